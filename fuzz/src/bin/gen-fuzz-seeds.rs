//! `gen-fuzz-seeds OUT DATA_DIR` writes each target's seeds to `OUT/<target>/`;
//! `gen-fuzz-seeds --list` prints `name max_len about` for each target.

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.as_slice() {
        [flag] if flag == "--list" => {
            for t in gen_fuzz::TARGETS {
                println!("{} {} {}", t.name, t.max_len, t.about);
            }
        }
        [out, data] => {
            let written = gen_fuzz::seeds::write_all(out.as_ref(), data.as_ref())?;
            for (target, files) in written {
                println!("{target} {}", files.len());
            }
        }
        _ => anyhow::bail!("usage: gen-fuzz-seeds --list | gen-fuzz-seeds OUT DATA_DIR"),
    }
    Ok(())
}
