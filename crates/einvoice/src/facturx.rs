//! Adds the Factur-X XMP properties (and their PDF/A extension schema description) to a PDF
//! written by krilla.
//!
//! krilla 0.8 writes the XMP packet itself and offers no hook for custom schemas, so the finished
//! file is patched: in the (uncompressed) metadata stream the `fx:` description is inserted
//! before `</rdf:RDF>` and the fx schema description joins krilla's `pdfaExtension:schemas` bag;
//! the stream's `/Length` is corrected and every cross-reference offset behind the metadata
//! object is shifted. The result is still a single-revision file with a classic
//! `xref` table, as krilla wrote it. Anything unexpected is reported as an error rather than
//! guessed at.

use crate::EinvoiceError;

const FX_NS: &str = "urn:factur-x:pdfa:CrossIndustryDocument:invoice:1p0#";

fn fx_description(file_name: &str, conformance_level: &str) -> String {
    format!(
        "<rdf:Description rdf:about=\"\" xmlns:fx=\"{FX_NS}\">\
         <fx:DocumentType>INVOICE</fx:DocumentType>\
         <fx:DocumentFileName>{file_name}</fx:DocumentFileName>\
         <fx:Version>1.0</fx:Version>\
         <fx:ConformanceLevel>{conformance_level}</fx:ConformanceLevel>\
         </rdf:Description>"
    )
}

/// The `pdfaExtension:schemas` entry describing the `fx` schema.
fn fx_schema_entry() -> String {
    let property = |name: &str, description: &str| {
        format!(
            "<rdf:li rdf:parseType=\"Resource\"><pdfaProperty:name>{name}</pdfaProperty:name>\
             <pdfaProperty:valueType>Text</pdfaProperty:valueType>\
             <pdfaProperty:category>external</pdfaProperty:category>\
             <pdfaProperty:description>{description}</pdfaProperty:description></rdf:li>"
        )
    };
    format!(
        "<rdf:li rdf:parseType=\"Resource\">\
         <pdfaSchema:schema>Factur-X PDFA Extension Schema</pdfaSchema:schema>\
         <pdfaSchema:namespaceURI>{FX_NS}</pdfaSchema:namespaceURI>\
         <pdfaSchema:prefix>fx</pdfaSchema:prefix>\
         <pdfaSchema:property><rdf:Seq>{}{}{}{}</rdf:Seq></pdfaSchema:property>\
         </rdf:li>",
        property("DocumentFileName", "name of the embedded XML invoice file"),
        property("DocumentType", "INVOICE"),
        property("Version", "The actual version of the Factur-X XML schema"),
        property(
            "ConformanceLevel",
            "The conformance level of the embedded Factur-X data"
        ),
    )
}

/// Adds the fx properties and the fx schema description to an XMP packet. krilla already
/// writes a `pdfaExtension:schemas` bag (for xmpMM and pdf); the fx entry joins that bag, since
/// a second `pdfaExtension:schemas` property would be a duplicate.
fn patch_packet(packet: &str, file_name: &str, conformance_level: &str) -> Option<String> {
    const BAG_END: &str = "</rdf:Bag></pdfaExtension:schemas>";
    const RDF_END: &str = "</rdf:RDF>";
    let mut out = packet.to_string();
    let rdf_end = out.rfind(RDF_END)?;
    out.insert_str(rdf_end, &fx_description(file_name, conformance_level));
    if let Some(bag_end) = out.find(BAG_END) {
        out.insert_str(bag_end, &fx_schema_entry());
    } else {
        let rdf_end = out.rfind(RDF_END)?;
        out.insert_str(
            rdf_end,
            &format!(
                "<rdf:Description rdf:about=\"\" \
                 xmlns:pdfaExtension=\"http://www.aiim.org/pdfa/ns/extension/\" \
                 xmlns:pdfaSchema=\"http://www.aiim.org/pdfa/ns/schema#\" \
                 xmlns:pdfaProperty=\"http://www.aiim.org/pdfa/ns/property#\">\
                 <pdfaExtension:schemas><rdf:Bag>{}</rdf:Bag></pdfaExtension:schemas>\
                 </rdf:Description>",
                fx_schema_entry()
            ),
        );
    }
    Some(out)
}

fn find(hay: &[u8], needle: &[u8], from: usize) -> Option<usize> {
    hay.get(from..)?
        .windows(needle.len())
        .position(|w| w == needle)
        .map(|p| p + from)
}

fn rfind(hay: &[u8], needle: &[u8], before: usize) -> Option<usize> {
    hay.get(..before)?
        .windows(needle.len())
        .rposition(|w| w == needle)
}

fn bad(what: &str) -> EinvoiceError {
    EinvoiceError::Pdf(format!("cannot add Factur-X XMP: {what}"))
}

fn parse_usize(bytes: &[u8]) -> Option<usize> {
    std::str::from_utf8(bytes).ok()?.trim().parse().ok()
}

/// Returns `pdf` with the Factur-X properties added to its XMP metadata.
pub fn add_facturx_xmp(
    pdf: &[u8],
    file_name: &str,
    conformance_level: &str,
) -> Result<Vec<u8>, EinvoiceError> {
    // The metadata stream: the last XMP packet in the file (embedded files are compressed).
    let rdf_end =
        rfind(pdf, b"</rdf:RDF></x:xmpmeta>", pdf.len()).ok_or_else(|| bad("no XMP packet"))?;
    let packet_start = rfind(pdf, b"<?xpacket begin=", rdf_end).ok_or_else(|| bad("no xpacket"))?;
    let stream_kw = rfind(pdf, b"stream", packet_start).ok_or_else(|| bad("no stream keyword"))?;
    let obj_start = rfind(pdf, b" obj", stream_kw).ok_or_else(|| bad("no object header"))?;
    let obj_line_start = pdf[..obj_start]
        .iter()
        .rposition(|b| *b == b'\n' || *b == b'\r')
        .map_or(0, |p| p + 1);
    let dict = &pdf[obj_start..stream_kw];
    if find(dict, b"/Metadata", 0).is_none() || find(dict, b"/Filter", 0).is_some() {
        return Err(bad("metadata stream has an unexpected dictionary"));
    }
    let len_key = find(pdf, b"/Length", obj_start)
        .filter(|p| *p < stream_kw)
        .ok_or_else(|| bad("metadata stream without /Length"))?;
    let num_start = len_key + b"/Length".len();
    let num_start = num_start
        + pdf[num_start..]
            .iter()
            .take_while(|b| b.is_ascii_whitespace())
            .count();
    let num_end = num_start
        + pdf[num_start..]
            .iter()
            .take_while(|b| b.is_ascii_digit())
            .count();
    let old_len = parse_usize(&pdf[num_start..num_end]).ok_or_else(|| bad("bad /Length"))?;

    let packet_end = rdf_end + b"</rdf:RDF></x:xmpmeta>".len();
    let packet =
        std::str::from_utf8(&pdf[packet_start..packet_end]).map_err(|_| bad("XMP not UTF-8"))?;
    let patched = patch_packet(packet, file_name, conformance_level)
        .ok_or_else(|| bad("unexpected XMP structure"))?;
    let grown = patched.len() - packet.len();
    let new_len_text = (old_len + grown).to_string();

    let mut out = Vec::with_capacity(pdf.len() + grown + 8);
    out.extend_from_slice(&pdf[..num_start]);
    out.extend_from_slice(new_len_text.as_bytes());
    out.extend_from_slice(&pdf[num_end..packet_start]);
    out.extend_from_slice(patched.as_bytes());
    let tail_start = out.len();
    out.extend_from_slice(&pdf[packet_end..]);
    let delta = tail_start - packet_end;

    // Shift the cross-reference offsets of everything behind the metadata object.
    let sx = rfind(&out, b"startxref", out.len()).ok_or_else(|| bad("no startxref"))?;
    let sx_num_start = sx + b"startxref".len();
    let sx_num_end = find(&out, b"%%EOF", sx_num_start).ok_or_else(|| bad("no %%EOF"))?;
    let old_xref =
        parse_usize(&out[sx_num_start..sx_num_end]).ok_or_else(|| bad("bad startxref"))?;
    let new_xref = old_xref + delta;
    if out.get(new_xref..new_xref + 4) != Some(b"xref".as_slice()) {
        return Err(bad("no classic xref table"));
    }
    let mut pos = new_xref + 4;
    let skip_eol = |out: &[u8], mut p: usize| {
        while out.get(p).is_some_and(|b| b.is_ascii_whitespace()) {
            p += 1;
        }
        p
    };
    pos = skip_eol(&out, pos);
    while !out[pos..].starts_with(b"trailer") {
        // Subsection header "first count".
        let line_end = find(&out, b"\n", pos).ok_or_else(|| bad("truncated xref"))?;
        let header = std::str::from_utf8(&out[pos..line_end]).map_err(|_| bad("xref header"))?;
        let mut parts = header.split_whitespace();
        let count: usize = parts
            .nth(1)
            .and_then(|c| c.parse().ok())
            .ok_or_else(|| bad("xref subsection header"))?;
        pos = line_end + 1;
        for _ in 0..count {
            let entry = out
                .get(pos..pos + 20)
                .ok_or_else(|| bad("truncated xref entry"))?;
            let offset = parse_usize(&entry[..10]).ok_or_else(|| bad("xref entry"))?;
            if entry[17] == b'n' && offset > obj_line_start {
                let shifted = format!("{:010}", offset + delta);
                out[pos..pos + 10].copy_from_slice(shifted.as_bytes());
            }
            pos += 20;
        }
        pos = skip_eol(&out, pos);
    }
    let mut result = out[..sx_num_start].to_vec();
    result.extend_from_slice(format!("\n{new_xref}\n").as_bytes());
    result.extend_from_slice(&out[sx_num_end..]);
    Ok(result)
}
