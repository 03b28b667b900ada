fn main() {
    // sqlx::migrate! embeds the migrations at compile time: rebuild when one changes.
    println!("cargo:rerun-if-changed=../../migrations");
}
