//! Input shapes and the feature-map geometry that flows through a network.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// The shape of one input image: channels x height x width (e.g. `1x28x28`, `3x32x32`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct InputShape {
    /// Colour channels.
    pub channels: u32,
    /// Rows.
    pub height: u32,
    /// Columns.
    pub width: u32,
}

impl InputShape {
    /// A shape from its three sides.
    pub fn new(channels: u32, height: u32, width: u32) -> Self {
        InputShape {
            channels,
            height,
            width,
        }
    }

    /// Values per image.
    pub fn len(&self) -> usize {
        self.channels as usize * self.height as usize * self.width as usize
    }

    /// True when any side is zero.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The geometry a network starts from.
    pub fn geometry(&self) -> Geometry {
        Geometry::Spatial {
            channels: self.channels,
            height: self.height,
            width: self.width,
        }
    }
}

impl fmt::Display for InputShape {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}x{}x{}", self.channels, self.height, self.width)
    }
}

impl FromStr for InputShape {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let sides: Vec<u32> = s
            .split('x')
            .map(|p| p.trim().parse::<u32>())
            .collect::<Result<_, _>>()
            .map_err(|_| format!("`{s}` is not a shape like 1x28x28"))?;
        match sides[..] {
            [c, h, w] if c > 0 && h > 0 && w > 0 => Ok(InputShape::new(c, h, w)),
            _ => Err(format!(
                "`{s}` is not a shape like 1x28x28 (three positive sides)"
            )),
        }
    }
}

/// What flows between layers: a feature map, or a flat vector after the first dense layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Geometry {
    /// channels x height x width.
    Spatial {
        /// Channels.
        channels: u32,
        /// Rows.
        height: u32,
        /// Columns.
        width: u32,
    },
    /// A vector of features.
    Flat {
        /// Length of the vector.
        features: u32,
    },
}

impl Geometry {
    /// Number of values per example.
    pub fn len(&self) -> u64 {
        match *self {
            Geometry::Spatial {
                channels,
                height,
                width,
            } => u64::from(channels) * u64::from(height) * u64::from(width),
            Geometry::Flat { features } => u64::from(features),
        }
    }

    /// True when the geometry holds no value.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The part of the geometry that decides which layers may follow: spatial size
    /// and whether the network has flattened. Channel and feature counts never do.
    pub fn validity_key(&self) -> (u32, u32, bool) {
        match *self {
            Geometry::Spatial { height, width, .. } => (height, width, false),
            Geometry::Flat { .. } => (0, 0, true),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes_parse_and_print() {
        let s: InputShape = "3x32x32".parse().unwrap();
        assert_eq!(s, InputShape::new(3, 32, 32));
        assert_eq!(s.to_string(), "3x32x32");
        assert_eq!(s.len(), 3072);
        assert!("3x32".parse::<InputShape>().is_err());
        assert!("0x28x28".parse::<InputShape>().is_err());
        assert!("ax28x28".parse::<InputShape>().is_err());
    }
}
