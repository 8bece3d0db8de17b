fn main() {
    println!("millrace");
}
