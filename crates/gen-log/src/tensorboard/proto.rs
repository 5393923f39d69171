//! The few protobuf messages an event file holds, derived by hand with `prost`.
//!
//! Names and field tags are those of TensorBoard's copies of TensorFlow's protos,
//! `tensorboard/compat/proto/{event,summary,tensor,tensor_shape,types}.proto`, of
//! `tensorboard/plugins/{text,audio,hparams}/plugin_data.proto` and of
//! `google/protobuf/struct.proto`. Only the fields gen writes are declared; a reader skips the
//! others, as protobuf allows.

use std::collections::BTreeMap;

/// `tensorboard.Event`: one record of an event file.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Event {
    /// Seconds since the Unix epoch when the event was written.
    #[prost(double, tag = "1")]
    pub wall_time: f64,
    /// The training step the event belongs to.
    #[prost(int64, tag = "2")]
    pub step: i64,
    /// What the event carries.
    #[prost(oneof = "event::What", tags = "3, 5, 7")]
    pub what: Option<event::What>,
}

/// `Event`'s `oneof what`.
pub mod event {
    /// What an [`Event`](super::Event) carries (`graph_def`, `log_message`,
    /// `tagged_run_metadata` and `meta_graph_def` are not declared).
    #[derive(Clone, PartialEq, prost::Oneof)]
    pub enum What {
        /// The first event of every file: `"brain.Event:2"`.
        #[prost(string, tag = "3")]
        FileVersion(String),
        /// Summary values.
        #[prost(message, tag = "5")]
        Summary(super::Summary),
        /// A session's start (after a restart), stop or checkpoint.
        #[prost(message, tag = "7")]
        SessionLog(super::SessionLog),
    }
}

/// `tensorboard.SessionLog`: a START tells readers that the run restarted at this event's step.
#[derive(Clone, PartialEq, prost::Message)]
pub struct SessionLog {
    /// A [`SessionStatus`].
    #[prost(enumeration = "SessionStatus", tag = "1")]
    pub status: i32,
    /// The checkpoint the session restarted from, if any.
    #[prost(string, tag = "2")]
    pub checkpoint_path: String,
    /// A free message.
    #[prost(string, tag = "3")]
    pub msg: String,
}

/// `tensorboard.SessionLog.SessionStatus`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
#[repr(i32)]
pub enum SessionStatus {
    /// Not set.
    StatusUnspecified = 0,
    /// The run (re)started: readers drop what earlier files hold at this step and later.
    Start = 1,
    /// The run stopped.
    Stop = 2,
    /// A checkpoint was written.
    Checkpoint = 3,
}

/// `tensorboard.Summary`: the values of one event.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Summary {
    /// The values.
    #[prost(message, repeated, tag = "1")]
    pub value: Vec<summary::Value>,
}

/// `Summary`'s nested messages.
pub mod summary {
    use super::{SummaryMetadata, TensorProto};

    /// `Summary.Image`: an encoded image.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Image {
        /// Height in pixels.
        #[prost(int32, tag = "1")]
        pub height: i32,
        /// Width in pixels.
        #[prost(int32, tag = "2")]
        pub width: i32,
        /// 1 grey, 2 grey and alpha, 3 RGB, 4 RGBA.
        #[prost(int32, tag = "3")]
        pub colorspace: i32,
        /// The PNG file's bytes.
        #[prost(bytes = "vec", tag = "4")]
        pub encoded_image_string: Vec<u8>,
    }

    /// `Summary.Audio`: an encoded clip.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Audio {
        /// Samples per second.
        #[prost(float, tag = "1")]
        pub sample_rate: f32,
        /// Channels.
        #[prost(int64, tag = "2")]
        pub num_channels: i64,
        /// Frames (samples per channel).
        #[prost(int64, tag = "3")]
        pub length_frames: i64,
        /// The WAV file's bytes.
        #[prost(bytes = "vec", tag = "4")]
        pub encoded_audio_string: Vec<u8>,
        /// `"audio/wav"`.
        #[prost(string, tag = "5")]
        pub content_type: String,
    }

    /// `Summary.Value`: one tagged value.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Value {
        /// The series the value belongs to, e.g. `"loss/train"`.
        #[prost(string, tag = "1")]
        pub tag: String,
        /// Which plugin reads a `tensor` value.
        #[prost(message, optional, tag = "9")]
        pub metadata: Option<SummaryMetadata>,
        /// The value (`histo` and the obsolete histogram are not declared).
        #[prost(oneof = "value::Value", tags = "2, 4, 6, 8")]
        pub value: Option<value::Value>,
    }

    /// `Summary.Value`'s `oneof value`.
    pub mod value {
        /// The kinds of value gen writes.
        #[derive(Clone, PartialEq, prost::Oneof)]
        pub enum Value {
            /// A scalar.
            #[prost(float, tag = "2")]
            SimpleValue(f32),
            /// An image.
            #[prost(message, tag = "4")]
            Image(super::Image),
            /// An audio clip.
            #[prost(message, tag = "6")]
            Audio(super::Audio),
            /// A tensor, read by the plugin its metadata names (text, hparams).
            #[prost(message, tag = "8")]
            Tensor(super::TensorProto),
        }
    }
}

/// `tensorboard.SummaryMetadata`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct SummaryMetadata {
    /// The plugin that reads the value.
    #[prost(message, optional, tag = "1")]
    pub plugin_data: Option<PluginData>,
    /// A display name.
    #[prost(string, tag = "2")]
    pub display_name: String,
    /// A description (Markdown).
    #[prost(string, tag = "3")]
    pub summary_description: String,
    /// A [`DataClass`].
    #[prost(enumeration = "DataClass", tag = "4")]
    pub data_class: i32,
}

/// `tensorboard.SummaryMetadata.PluginData`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct PluginData {
    /// `"text"`, `"hparams"`, ...
    #[prost(string, tag = "1")]
    pub plugin_name: String,
    /// The plugin's own serialised message.
    #[prost(bytes = "vec", tag = "2")]
    pub content: Vec<u8>,
}

/// `tensorboard.DataClass`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
#[repr(i32)]
pub enum DataClass {
    /// Not set (legacy values).
    Unknown = 0,
    /// A scalar.
    Scalar = 1,
    /// A tensor.
    Tensor = 2,
    /// A sequence of blobs.
    BlobSequence = 3,
}

/// `tensorboard.TensorProto`, with the fields gen uses.
#[derive(Clone, PartialEq, prost::Message)]
pub struct TensorProto {
    /// A [`DataType`].
    #[prost(enumeration = "DataType", tag = "1")]
    pub dtype: i32,
    /// The shape; absent or without dimensions means a scalar.
    #[prost(message, optional, tag = "2")]
    pub tensor_shape: Option<TensorShapeProto>,
    /// `DT_FLOAT` values.
    #[prost(float, repeated, tag = "5")]
    pub float_val: Vec<f32>,
    /// `DT_STRING` values.
    #[prost(bytes = "vec", repeated, tag = "8")]
    pub string_val: Vec<Vec<u8>>,
}

/// `tensorboard.TensorShapeProto`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct TensorShapeProto {
    /// The dimensions, outermost first.
    #[prost(message, repeated, tag = "2")]
    pub dim: Vec<tensor_shape_proto::Dim>,
}

/// `TensorShapeProto`'s nested message.
pub mod tensor_shape_proto {
    /// One dimension.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Dim {
        /// Its size.
        #[prost(int64, tag = "1")]
        pub size: i64,
    }
}

/// `tensorboard.DataType`, with the types gen uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
#[repr(i32)]
pub enum DataType {
    /// Not set.
    DtInvalid = 0,
    /// `f32`.
    DtFloat = 1,
    /// Byte strings.
    DtString = 7,
}

/// `tensorboard.TextPluginData`: the text plugin's content (version 0, the only one).
#[derive(Clone, PartialEq, prost::Message)]
pub struct TextPluginData {
    /// 0.
    #[prost(int32, tag = "1")]
    pub version: i32,
}

/// `tensorboard.AudioPluginData`: the audio plugin's content.
#[derive(Clone, PartialEq, prost::Message)]
pub struct AudioPluginData {
    /// 0, the only version.
    #[prost(int32, tag = "1")]
    pub version: i32,
    /// An [`AudioEncoding`]: how the clips are encoded.
    #[prost(enumeration = "AudioEncoding", tag = "2")]
    pub encoding: i32,
    /// The values are `Summary.Audio`s, read as tensors.
    #[prost(bool, tag = "3")]
    pub converted_to_tensor: bool,
}

/// `tensorboard.AudioPluginData.Encoding`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
#[repr(i32)]
pub enum AudioEncoding {
    /// Not set: served as `application/octet-stream`.
    Unknown = 0,
    /// WAV: served as `audio/wav`.
    Wav = 11,
}

/// `tensorboard.hparams.HParamsPluginData`: the hparams plugin's content.
#[derive(Clone, PartialEq, prost::Message)]
pub struct HParamsPluginData {
    /// 0, the only version.
    #[prost(int32, tag = "1")]
    pub version: i32,
    /// What it holds (`experiment` and `session_end_info` are not declared).
    #[prost(oneof = "h_params_plugin_data::Data", tags = "3")]
    pub data: Option<h_params_plugin_data::Data>,
}

/// `HParamsPluginData`'s `oneof data`.
pub mod h_params_plugin_data {
    /// The session's start.
    #[derive(Clone, PartialEq, prost::Oneof)]
    pub enum Data {
        /// The hyperparameters a run started with.
        #[prost(message, tag = "3")]
        SessionStartInfo(super::SessionStartInfo),
    }
}

/// `tensorboard.hparams.SessionStartInfo`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct SessionStartInfo {
    /// The hyperparameters by name.
    #[prost(btree_map = "string, message", tag = "1")]
    pub hparams: BTreeMap<String, ProtoValue>,
    /// The group the session belongs to; empty means the run's name.
    #[prost(string, tag = "4")]
    pub group_name: String,
    /// When the session started, in seconds since the Unix epoch.
    #[prost(double, tag = "5")]
    pub start_time_secs: f64,
}

/// `google.protobuf.Value`, with the kinds of value hparams use.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ProtoValue {
    /// The value (`null_value`, `struct_value` and `list_value` are not declared).
    #[prost(oneof = "proto_value::Kind", tags = "2, 3, 4")]
    pub kind: Option<proto_value::Kind>,
}

/// `google.protobuf.Value`'s `oneof kind`.
pub mod proto_value {
    /// A number, a string or a boolean.
    #[derive(Clone, PartialEq, prost::Oneof)]
    pub enum Kind {
        /// A number.
        #[prost(double, tag = "2")]
        NumberValue(f64),
        /// A string.
        #[prost(string, tag = "3")]
        StringValue(String),
        /// A boolean.
        #[prost(bool, tag = "4")]
        BoolValue(bool),
    }
}
