//! The prost codec for the one hand-written RPC (`CreateCertificate`): tonic 0.14
//! keeps its own in the `tonic-prost` crate, which the workspace does not carry for
//! a single unary call.

use std::marker::PhantomData;

use prost::Message;
use tonic::Status;
use tonic::codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder};

/// Encodes `Req`, decodes `Resp`.
#[derive(Debug)]
pub(crate) struct ProstCodec<Req, Resp>(PhantomData<fn(Req) -> Resp>);

impl<Req, Resp> Default for ProstCodec<Req, Resp> {
    fn default() -> Self {
        ProstCodec(PhantomData)
    }
}

impl<Req, Resp> Codec for ProstCodec<Req, Resp>
where
    Req: Message + Send + 'static,
    Resp: Message + Default + Send + 'static,
{
    type Encode = Req;
    type Decode = Resp;
    type Encoder = ProstCodec<Req, Resp>;
    type Decoder = ProstCodec<Req, Resp>;

    fn encoder(&mut self) -> Self::Encoder {
        ProstCodec::default()
    }

    fn decoder(&mut self) -> Self::Decoder {
        ProstCodec::default()
    }
}

impl<Req: Message, Resp> Encoder for ProstCodec<Req, Resp> {
    type Item = Req;
    type Error = Status;

    fn encode(&mut self, item: Req, dst: &mut EncodeBuf<'_>) -> Result<(), Status> {
        item.encode(dst)
            .map_err(|e| Status::internal(format!("cannot encode the request: {e}")))
    }
}

impl<Req, Resp: Message + Default> Decoder for ProstCodec<Req, Resp> {
    type Item = Resp;
    type Error = Status;

    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<Resp>, Status> {
        Resp::decode(src)
            .map(Some)
            .map_err(|e| Status::internal(format!("cannot decode the CA's answer: {e}")))
    }
}
