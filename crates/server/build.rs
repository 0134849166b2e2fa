// The console's built assets (`ui/dist`, committed) are embedded in the binary: rebuild when they
// change, files added or removed included.
fn main() {
    println!("cargo:rerun-if-changed=../../ui/dist");
}
