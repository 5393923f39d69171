//! gen-log's TensorBoard writer read back by its own reader: framing, both checksums, event
//! decoding, values, steps and tags, a resumed run, and damage detection.

mod common;

use std::io::Cursor;

use gen_log::Error;
use gen_log::error::Corruption;
use gen_log::tensorboard::proto::event::What;
use gen_log::tensorboard::record::{FRAMING_BYTES, records, write_record};
use gen_log::tensorboard::{FILE_VERSION, TbRun, TbWriter, event_files, read_event_file};
use proptest::prelude::*;

#[test]
fn every_kind_of_value_reads_back() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let tb = dir.path().join("tb");
    let want = common::write_sample_run(&tb);
    let got = TbRun::read(&tb)?;

    assert_eq!(got.files.len(), 2);
    assert_eq!(got.scalars, want.scalars);
    assert_eq!(got.text, want.text);
    assert_eq!(got.hparams.as_ref(), Some(&want.hparams));

    assert_eq!(got.images.keys().collect::<Vec<_>>(), ["samples"]);
    let images = &got.images["samples"];
    assert_eq!(images.len(), want.images["samples"].len());
    for ((step, image), (want_step, (w, h, png))) in images.iter().zip(&want.images["samples"]) {
        assert_eq!(step, want_step);
        assert_eq!((image.width, image.height), (*w as i32, *h as i32));
        assert_eq!(&image.png, png);
    }

    assert_eq!(got.audio.keys().collect::<Vec<_>>(), ["sound", "stereo"]);
    for (tag, clips) in &want.audio {
        assert_eq!(got.audio[tag].len(), clips.len(), "{tag}");
        for ((step, clip), (want_step, (rate, channels, frames, samples))) in
            got.audio[tag].iter().zip(clips)
        {
            assert_eq!(step, want_step, "{tag}");
            assert_eq!(clip.sample_rate, *rate as f32);
            assert_eq!(clip.channels, i64::from(*channels));
            assert_eq!(clip.frames, i64::from(*frames));
            let reader = hound::WavReader::new(Cursor::new(&clip.wav))?;
            assert_eq!(reader.spec().sample_rate, *rate);
            assert_eq!(reader.spec().channels, *channels);
            assert_eq!(reader.duration(), *frames);
            if let Some(samples) = samples {
                let pcm: Vec<i16> = reader.into_samples::<i16>().collect::<Result<_, _>>()?;
                for (i, (p, s)) in pcm.iter().zip(samples).enumerate() {
                    // 16-bit PCM: within half a step of the sample, 1 / 65536.
                    let back = f32::from(*p) / 32768.0;
                    assert!((back - s).abs() <= 0.5 / 32768.0 + 1e-7, "{tag}[{i}]");
                }
            }
        }
    }
    Ok(())
}

#[test]
fn files_start_with_the_file_version_and_are_named_for_tensorboard() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    common::write_sample_run(dir.path());
    let files = event_files(dir.path())?;
    assert_eq!(files.len(), 2);
    for (i, file) in files.iter().enumerate() {
        let name = file.file_name().unwrap().to_str().unwrap();
        let rest = name.strip_prefix("events.out.tfevents.").unwrap();
        let (secs, host) = rest.split_once('.').unwrap();
        assert_eq!(secs.len(), 10, "{name}");
        assert!(secs.bytes().all(|b| b.is_ascii_digit()), "{name}");
        assert!(!host.is_empty(), "{name}");

        let events = read_event_file(file)?;
        assert_eq!(events[0].step, 0);
        assert_eq!(events[0].what, Some(What::FileVersion(FILE_VERSION.into())));
        assert!(events.iter().all(|e| e.wall_time > 1.6e9));
        // Every file's second event is a START: the new run's at step 0, the resumed run's
        // (whose file sorts last even when written within the same second) at its first step.
        assert!(
            matches!(&events[1].what, Some(What::SessionLog(log)) if log.status == 1),
            "{name}"
        );
        assert_eq!(events[1].step, if i == 0 { 0 } else { 5 }, "{name}");
    }
    Ok(())
}

/// TensorBoard's data server answers with `X-Content-Type-Options: nosniff`, so a clip must
/// carry its encoding for the browser to play it: without this metadata it is served as
/// `application/octet-stream`.
#[test]
fn audio_declares_wav_for_tensorboards_data_server() -> anyhow::Result<()> {
    use gen_log::tensorboard::proto::{AudioPluginData, DataClass, summary::value::Value};
    use prost::Message;

    let dir = tempfile::tempdir()?;
    let mut tb = TbWriter::create(dir.path())?;
    tb.audio_samples("clip", 1, &[0.0, 0.5], 8000)?;
    tb.flush()?;
    let events = read_event_file(tb.path())?;
    let Some(What::Summary(summary)) = &events[2].what else {
        panic!("not a summary: {:?}", events[2]);
    };
    let value = &summary.value[0];
    assert!(matches!(&value.value, Some(Value::Audio(a)) if a.content_type == "audio/wav"));
    let metadata = value.metadata.as_ref().unwrap();
    assert_eq!(metadata.data_class, DataClass::BlobSequence as i32);
    let plugin = metadata.plugin_data.as_ref().unwrap();
    assert_eq!(plugin.plugin_name, "audio");
    let content = AudioPluginData::decode(plugin.content.as_slice())?;
    assert_eq!((content.version, content.encoding), (0, 11));
    Ok(())
}

#[test]
fn a_writer_in_the_same_second_never_reuses_a_name() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let paths: Vec<_> = (0..5)
        .map(|_| TbWriter::create(dir.path()).map(|w| w.path().to_owned()))
        .collect::<Result<_, _>>()?;
    let mut sorted = paths.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(sorted, paths, "names are unique and increasing");
    Ok(())
}

#[test]
fn a_flipped_bit_in_a_file_is_reported_with_its_record() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let mut tb = TbWriter::create(dir.path())?;
    tb.scalar("loss", 1, 0.5)?;
    tb.scalar("loss", 2, 0.25)?;
    tb.flush()?;
    let path = tb.path().to_owned();
    drop(tb);

    let mut bytes = std::fs::read(&path)?;
    let first_len = records(&bytes).next().unwrap().unwrap().1.len();
    let second = (first_len + FRAMING_BYTES) as u64;
    // A byte of the second record's data.
    let at = second as usize + 12 + 3;
    bytes[at] ^= 0x10;
    std::fs::write(&path, &bytes)?;
    match read_event_file(&path) {
        Err(Error::Corrupt {
            path: p,
            offset,
            problem: Corruption::DataChecksum { .. },
        }) => {
            assert_eq!(p, path);
            assert_eq!(offset, second);
        }
        other => panic!("expected a data checksum error, got {other:?}"),
    }
    assert!(
        TbRun::read(dir.path()).is_err(),
        "a damaged run is an error"
    );
    Ok(())
}

#[test]
fn a_record_cut_short_is_an_error_but_tensorboard_style_reading_skips_it() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let mut tb = TbWriter::create(dir.path())?;
    tb.scalar("loss", 1, 0.5)?;
    tb.scalar("loss", 2, 0.25)?;
    tb.flush()?;
    let path = tb.path().to_owned();
    drop(tb);
    let bytes = std::fs::read(&path)?;
    std::fs::write(&path, &bytes[..bytes.len() - 3])?;

    let err = read_event_file(&path).unwrap_err();
    assert!(
        matches!(
            err,
            Error::Corrupt {
                problem: Corruption::Truncated { .. },
                ..
            }
        ),
        "{err}"
    );
    // A killed writer leaves such a tail; TensorBoard reads the records before it.
    assert_eq!(TbRun::read(dir.path())?.scalars["loss"], [(1, 0.5)]);
    Ok(())
}

#[test]
fn bad_values_are_typed_errors_naming_the_tag() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let mut tb = TbWriter::create(dir.path())?;
    let reason = |e: Error| match e {
        Error::InvalidValue { tag, reason } => format!("{tag}: {reason}"),
        other => panic!("expected InvalidValue, got {other}"),
    };
    assert_eq!(
        reason(tb.scalar("", 1, 0.0).unwrap_err()),
        ": the tag is empty"
    );
    assert!(reason(tb.scalar("loss", u64::MAX, 0.0).unwrap_err()).contains("beyond i64"));
    assert!(
        reason(tb.image_png("grid", 1, b"not a png").unwrap_err()).starts_with("grid: not a PNG")
    );
    assert!(reason(tb.audio_wav("clip", 1, b"RIFF").unwrap_err()).starts_with("clip: not a WAV"));
    let nan = tb
        .audio_samples("clip", 1, &[0.0, f32::NAN], 8000)
        .unwrap_err();
    assert_eq!(reason(nan), "clip: sample 1 is not finite");
    // Nothing was written for them.
    tb.flush()?;
    let run = TbRun::read(dir.path())?;
    assert!(run.scalars.is_empty() && run.images.is_empty() && run.audio.is_empty());

    // A file where a folder should be.
    let file = dir.path().join("file");
    std::fs::write(&file, b"")?;
    assert!(matches!(TbWriter::create(&file), Err(Error::Io { .. })));
    Ok(())
}

#[test]
fn non_finite_scalars_are_kept() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let mut tb = TbWriter::create(dir.path())?;
    tb.scalar("loss", 1, f32::NAN)?;
    tb.scalar("loss", 2, f32::INFINITY)?;
    tb.flush()?;
    let loss = &TbRun::read(dir.path())?.scalars["loss"];
    assert!(loss[0].1.is_nan());
    assert_eq!(loss[1], (2, f32::INFINITY));
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Any records round-trip, and flipping any one bit of the stream is caught by a checksum.
    #[test]
    fn framing_round_trips_and_catches_any_flipped_bit(
        payloads in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..40), 1..4),
        flip in any::<prop::sample::Index>(),
        bit in 0u8..8,
    ) {
        let mut bytes = Vec::new();
        for p in &payloads {
            write_record(&mut bytes, p).unwrap();
        }
        let back: Vec<&[u8]> = records(&bytes).map(|r| r.unwrap().1).collect();
        prop_assert_eq!(back, payloads.iter().map(Vec::as_slice).collect::<Vec<_>>());

        let at = flip.index(bytes.len());
        bytes[at] ^= 1 << bit;
        let errors: Vec<_> = records(&bytes).filter_map(Result::err).collect();
        prop_assert_eq!(errors.len(), 1);
        prop_assert!(
            matches!(errors[0].1, Corruption::LengthChecksum { .. } | Corruption::DataChecksum { .. }),
            "{:?}", errors[0]
        );
    }
}
