//! An event file written by TensorBoard's own Python classes (`tests/fixtures/reference.tfevents`,
//! made by `tests/fixtures/make_reference_events.py`) read by gen-log: the framing, checksums
//! and protobuf field tags agree with the reference implementation's.

use std::collections::BTreeMap;
use std::io::Cursor;

use gen_log::tensorboard::proto::event::What;
use gen_log::tensorboard::{HParam, TbRun, read_event_file};

const FIXTURE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/reference.tfevents"
);

#[test]
fn tensorboards_own_file_reads_back() -> anyhow::Result<()> {
    let events = read_event_file(FIXTURE)?;
    assert_eq!(events.len(), 12);
    assert_eq!(
        events[0].what,
        Some(What::FileVersion("brain.Event:2".into()))
    );
    assert!(matches!(&events[1].what, Some(What::SessionLog(log)) if log.status == 1));
    assert_eq!(events[2].wall_time, 1_700_000_001.0);

    // TbRun reads folders: copy the fixture under a name TensorBoard would select.
    let dir = tempfile::tempdir()?;
    std::fs::copy(
        FIXTURE,
        dir.path().join("events.out.tfevents.1700000000.reference"),
    )?;
    let run = TbRun::read(dir.path())?;

    // Steps 1-2 before the restart at 3, then 3-4 after it; the first run's step 3 is gone.
    assert_eq!(
        run.scalars["loss"],
        [(1, 0.5), (2, 0.25), (3, 9.0), (4, 8.0)]
    );

    let grid = &run.images["grid"];
    assert_eq!(grid.len(), 1);
    assert_eq!((grid[0].0, grid[0].1.width, grid[0].1.height), (2, 3, 2));
    let pixels = image::load_from_memory(&grid[0].1.png)?.to_rgb8();
    assert_eq!(pixels.get_pixel(2, 1).0, [20, 20, 30]);

    // The clip and the text were logged at step 3, before the restart at step 3: dropped.
    assert!(run.audio.is_empty() && run.text.is_empty());
    let audio_event = events.iter().find_map(|e| match &e.what {
        Some(What::Summary(s)) => s.value.iter().find(|v| v.tag == "clip").cloned(),
        _ => None,
    });
    let Some(gen_log::tensorboard::proto::summary::value::Value::Audio(clip)) =
        audio_event.and_then(|v| v.value)
    else {
        panic!("no audio value");
    };
    assert_eq!(
        (clip.sample_rate, clip.num_channels, clip.length_frames),
        (8000.0, 1, 4)
    );
    assert_eq!(clip.content_type, "audio/wav");
    let pcm: Vec<i16> = hound::WavReader::new(Cursor::new(&clip.encoded_audio_string))?
        .into_samples()
        .collect::<Result<_, _>>()?;
    assert_eq!(pcm, [0, 16384, -16384, 32767]);
    let text = events.iter().find_map(|e| match &e.what {
        Some(What::Summary(s)) => s.value.iter().find(|v| v.tag == "notes").cloned(),
        _ => None,
    });
    let text = text.unwrap();
    assert_eq!(
        text.metadata.unwrap().plugin_data.unwrap().plugin_name,
        "text"
    );
    let Some(gen_log::tensorboard::proto::summary::value::Value::Tensor(t)) = text.value else {
        panic!("text is not a tensor");
    };
    assert_eq!(t.dtype, 7);
    assert_eq!(t.string_val, [Vec::from("héllo *world*")]);

    let want: BTreeMap<String, HParam> = [
        ("amp".to_owned(), HParam::Bool(false)),
        ("model".to_owned(), HParam::Text("gru".into())),
        ("optim.lr".to_owned(), HParam::Number(0.001)),
    ]
    .into();
    assert_eq!(run.hparams, Some(want));
    Ok(())
}
