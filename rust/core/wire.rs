// SPDX-License-Identifier: GPL-2.0

//! The virtio-mem wire format (virtio 1.2, "Memory Device"; `uapi/linux/virtio_mem.h`).
//! Everything is little endian.

/// Feature bit: the device knows the node of its memory (ACPI proximity domain).
pub const F_ACPI_PXM: u32 = 0;
/// Feature bit: unplugged memory must not be accessed (reads and writes fault).
pub const F_UNPLUGGED_INACCESSIBLE: u32 = 1;
/// Feature bit: plugged memory survives suspend.
pub const F_PERSISTENT_SUSPEND: u32 = 2;

/// Size of a request on the wire.
pub const REQUEST_SIZE: usize = 24;
/// Size of a response on the wire.
pub const RESPONSE_SIZE: usize = 10;

const REQ_PLUG: u16 = 0;
const REQ_UNPLUG: u16 = 1;
const REQ_UNPLUG_ALL: u16 = 2;
const REQ_STATE: u16 = 3;

/// A run of device blocks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DeviceBlocks {
    /// Physical address of the first block.
    pub addr: u64,
    /// Number of blocks.
    pub nb_blocks: u16,
}

/// A request to the device.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Request {
    /// Plug these blocks.
    Plug(DeviceBlocks),
    /// Unplug these blocks.
    Unplug(DeviceBlocks),
    /// Unplug everything.
    UnplugAll,
    /// Ask whether these blocks are plugged.
    State(DeviceBlocks),
}

impl Request {
    /// The request as the device reads it: type (u16), padding (6 bytes), address (u64),
    /// number of blocks (u16), padding (6 bytes).
    pub fn encode(&self) -> [u8; REQUEST_SIZE] {
        let none = DeviceBlocks {
            addr: 0,
            nb_blocks: 0,
        };
        let (kind, DeviceBlocks { addr, nb_blocks }) = match *self {
            Request::Plug(b) => (REQ_PLUG, b),
            Request::Unplug(b) => (REQ_UNPLUG, b),
            Request::UnplugAll => (REQ_UNPLUG_ALL, none),
            Request::State(b) => (REQ_STATE, b),
        };
        let mut out = [0u8; REQUEST_SIZE];
        out[0..2].copy_from_slice(&kind.to_le_bytes());
        out[8..16].copy_from_slice(&addr.to_le_bytes());
        out[16..18].copy_from_slice(&nb_blocks.to_le_bytes());
        out
    }
}

/// What the device answered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Response {
    /// Done.
    Ack,
    /// Refused now, may work later (the device's limits, or nothing more to plug).
    Nack,
    /// The device is busy (for instance migrating); retry later.
    Busy,
    /// The request was invalid: the device and the driver disagree.
    Error,
}

/// The block state a STATE request reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BlockState {
    /// All blocks plugged.
    Plugged,
    /// All blocks unplugged.
    Unplugged,
    /// Some of each.
    Mixed,
}

/// A response that does not follow the protocol.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WireError {
    /// Fewer bytes than the fields that matter.
    Short(usize),
    /// A response type the protocol does not have.
    UnknownType(u16),
    /// A block state the protocol does not have.
    UnknownState(u16),
}

fn u16_at(bytes: &[u8], at: usize) -> Result<u16, WireError> {
    bytes
        .get(at..at + 2)
        .map(|b| u16::from_le_bytes([b[0], b[1]]))
        .ok_or(WireError::Short(bytes.len()))
}

/// Reads the response type from the first `len` bytes the device wrote.
pub fn decode_response(bytes: &[u8]) -> Result<Response, WireError> {
    match u16_at(bytes, 0)? {
        0 => Ok(Response::Ack),
        1 => Ok(Response::Nack),
        2 => Ok(Response::Busy),
        3 => Ok(Response::Error),
        other => Err(WireError::UnknownType(other)),
    }
}

/// Reads the block state of an acknowledged STATE response.
pub fn decode_state(bytes: &[u8]) -> Result<BlockState, WireError> {
    match u16_at(bytes, 8)? {
        0 => Ok(BlockState::Plugged),
        1 => Ok(BlockState::Unplugged),
        2 => Ok(BlockState::Mixed),
        other => Err(WireError::UnknownState(other)),
    }
}

/// Byte offsets of the fields of `struct virtio_mem_config`.
pub mod config_offset {
    /// `block_size` (u64).
    pub const BLOCK_SIZE: u32 = 0;
    /// `node_id` (u16, valid with [`super::F_ACPI_PXM`]).
    pub const NODE_ID: u32 = 8;
    /// `addr` (u64): start of the device region.
    pub const ADDR: u32 = 16;
    /// `region_size` (u64).
    pub const REGION_SIZE: u32 = 24;
    /// `usable_region_size` (u64): the part that may be plugged now.
    pub const USABLE_REGION_SIZE: u32 = 32;
    /// `plugged_size` (u64).
    pub const PLUGGED_SIZE: u32 = 40;
    /// `requested_size` (u64).
    pub const REQUESTED_SIZE: u32 = 48;
    /// `sizeof(struct virtio_mem_config)`: no field is read beyond it.
    pub const LEN: u32 = 56;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_fields_lie_inside_the_uapi_struct() {
        use config_offset as off;
        let fields = [
            (off::BLOCK_SIZE, 8),
            (off::NODE_ID, 2),
            (off::ADDR, 8),
            (off::REGION_SIZE, 8),
            (off::USABLE_REGION_SIZE, 8),
            (off::PLUGGED_SIZE, 8),
            (off::REQUESTED_SIZE, 8),
        ];
        for (offset, len) in fields {
            assert!(offset + len <= off::LEN, "field at {offset}");
        }
        // The last field ends the struct: nothing after it is read.
        assert_eq!(off::REQUESTED_SIZE + 8, off::LEN);
    }

    #[test]
    fn encodes_requests_like_the_uapi_struct() {
        let plug = Request::Plug(DeviceBlocks {
            addr: 0x1_4000_0000,
            nb_blocks: 3,
        })
        .encode();
        assert_eq!(&plug[0..2], &[0, 0]);
        assert_eq!(&plug[2..8], &[0; 6]);
        assert_eq!(&plug[8..16], &0x1_4000_0000u64.to_le_bytes());
        assert_eq!(&plug[16..18], &[3, 0]);
        assert_eq!(&plug[18..], &[0; 6]);
        assert_eq!(
            Request::Unplug(DeviceBlocks {
                addr: 8,
                nb_blocks: 1
            })
            .encode()[0],
            1
        );
        assert_eq!(Request::UnplugAll.encode(), {
            let mut r = [0u8; REQUEST_SIZE];
            r[0] = 2;
            r
        });
        assert_eq!(
            Request::State(DeviceBlocks {
                addr: 0,
                nb_blocks: 0xffff
            })
            .encode()[16..18],
            [0xff, 0xff]
        );
    }

    #[test]
    fn decodes_responses() {
        let answers = [
            Response::Ack,
            Response::Nack,
            Response::Busy,
            Response::Error,
        ];
        for (kind, want) in answers.into_iter().enumerate() {
            let mut r = [0u8; RESPONSE_SIZE];
            r[0] = kind as u8;
            assert_eq!(decode_response(&r), Ok(want));
        }
        let mut r = [0u8; RESPONSE_SIZE];
        r[0] = 4;
        assert_eq!(decode_response(&r), Err(WireError::UnknownType(4)));
        assert_eq!(decode_response(&r[..1]), Err(WireError::Short(1)));
    }

    #[test]
    fn decodes_states() {
        let states = [
            BlockState::Plugged,
            BlockState::Unplugged,
            BlockState::Mixed,
        ];
        for (state, want) in states.into_iter().enumerate() {
            let mut r = [0u8; RESPONSE_SIZE];
            r[8] = state as u8;
            assert_eq!(decode_state(&r), Ok(want));
        }
        let mut r = [0u8; RESPONSE_SIZE];
        r[8] = 2;
        r[9] = 1;
        assert_eq!(decode_state(&r), Err(WireError::UnknownState(0x102)));
        assert_eq!(decode_state(&r[..9]), Err(WireError::Short(9)));
    }
}
