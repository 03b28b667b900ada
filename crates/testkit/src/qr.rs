//! Reads QR codes back from what users see: a PDF page rendered by poppler's `pdftoppm`, or
//! a PNG screenshot taken by the browser. (`rqrr` decodes; nothing here knows how the codes
//! were drawn.)

use std::path::Path;
use std::process::Command;

/// The texts of every QR code in a greyscale image (`pixels` row by row, 0 = black).
pub fn codes_in_greyscale(width: usize, height: usize, pixels: &[u8]) -> Vec<String> {
    let mut image = rqrr::PreparedImage::prepare_from_greyscale(width, height, |x, y| {
        pixels.get(y * width + x).copied().unwrap_or(255)
    });
    image
        .detect_grids()
        .into_iter()
        .filter_map(|grid| grid.decode().ok().map(|(_, text)| text))
        .collect()
}

/// The texts of every QR code in a PNG image (any colour type; alpha is ignored).
pub fn codes_in_png(bytes: &[u8]) -> Result<Vec<String>, String> {
    let mut decoder = png::Decoder::new(std::io::Cursor::new(bytes));
    decoder.set_transformations(png::Transformations::EXPAND | png::Transformations::STRIP_16);
    let mut reader = decoder.read_info().map_err(|e| format!("PNG: {e}"))?;
    let mut buffer = vec![0; reader.output_buffer_size()];
    let info = reader
        .next_frame(&mut buffer)
        .map_err(|e| format!("PNG: {e}"))?;
    let channels = info.color_type.samples();
    let (width, height) = (info.width as usize, info.height as usize);
    let grey: Vec<u8> = buffer[..info.buffer_size()]
        .chunks(channels)
        .map(|p| match p {
            [g] | [g, _] => *g,
            [r, g, b, ..] => ((u16::from(*r) + u16::from(*g) + u16::from(*b)) / 3) as u8,
            [] => 255,
        })
        .collect();
    Ok(codes_in_greyscale(width, height, &grey))
}

/// The texts of every QR code on every page of a PDF (rendered at 200 dpi in grey by
/// `pdftoppm`), page by page.
pub fn codes_in_pdf(pdf: &Path) -> Result<Vec<String>, String> {
    let dir = std::env::temp_dir().join(format!(
        "workorders-qr-{}-{}",
        std::process::id(),
        pdf.file_name().and_then(|n| n.to_str()).unwrap_or("pdf")
    ));
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let prefix = dir.join("page");
    let status = Command::new("pdftoppm")
        .args(["-r", "200", "-gray"])
        .arg(pdf)
        .arg(&prefix)
        .status()
        .map_err(|e| format!("pdftoppm: {e}"))?;
    if !status.success() {
        return Err(format!("pdftoppm failed: {status}"));
    }
    let mut pages: Vec<_> = std::fs::read_dir(&dir)
        .map_err(|e| e.to_string())?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "pgm"))
        .collect();
    pages.sort();
    let mut codes = Vec::new();
    for page in &pages {
        let bytes = std::fs::read(page).map_err(|e| e.to_string())?;
        let (width, height, pixels) = parse_pgm(&bytes)?;
        codes.extend(codes_in_greyscale(width, height, pixels));
    }
    let _ = std::fs::remove_dir_all(&dir);
    Ok(codes)
}

/// A binary PGM (`P5`, 8 bits): width, height and the pixels.
fn parse_pgm(bytes: &[u8]) -> Result<(usize, usize, &[u8]), String> {
    let mut fields = Vec::new();
    let mut i = 0;
    while fields.len() < 4 {
        while i < bytes.len() && bytes[i].is_ascii_whitespace() {
            i += 1;
        }
        if bytes.get(i) == Some(&b'#') {
            while i < bytes.len() && bytes[i] != b'\n' {
                i += 1;
            }
            continue;
        }
        let start = i;
        while i < bytes.len() && !bytes[i].is_ascii_whitespace() {
            i += 1;
        }
        if start == i {
            return Err("PGM header cut short".to_owned());
        }
        fields.push(String::from_utf8_lossy(&bytes[start..i]).into_owned());
    }
    let number = |s: &str| s.parse::<usize>().map_err(|e| format!("PGM header: {e}"));
    if fields[0] != "P5" || number(&fields[3])? > 255 {
        return Err(format!("not an 8-bit binary PGM: {fields:?}"));
    }
    let (width, height) = (number(&fields[1])?, number(&fields[2])?);
    let pixels = bytes
        .get(i + 1..i + 1 + width * height)
        .ok_or("PGM pixels cut short")?;
    Ok((width, height, pixels))
}
