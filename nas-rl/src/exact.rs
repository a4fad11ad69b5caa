//! Floats that survive a checkpoint exactly.
//!
//! serde_json's default float parsing is best-effort (it may come back one ulp off), which
//! would let a restored strategy drift from the original. In human-readable formats these
//! helpers write a float as a string holding its shortest round-trip decimal form (Rust's
//! `{:?}`), parsed back exactly by `str::parse`; binary formats get the raw float. Plain
//! numbers are accepted when reading, so hand-written files still load.

use std::collections::BTreeMap;
use std::fmt;

use serde::de::{self, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// An `f64` with an exact serialized form.
#[derive(Debug, Clone, Copy)]
struct Exact(f64);

impl Serialize for Exact {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if s.is_human_readable() {
            s.collect_str(&format_args!("{:?}", self.0))
        } else {
            s.serialize_f64(self.0)
        }
    }
}

struct ExactVisitor;

impl Visitor<'_> for ExactVisitor {
    type Value = Exact;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a float, or a string holding one")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Exact, E> {
        v.parse()
            .map(Exact)
            .map_err(|_| E::invalid_value(de::Unexpected::Str(v), &self))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Exact, E> {
        Ok(Exact(v))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Exact, E> {
        Ok(Exact(v as f64))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Exact, E> {
        Ok(Exact(v as f64))
    }
}

impl<'de> Deserialize<'de> for Exact {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        if d.is_human_readable() {
            d.deserialize_any(ExactVisitor)
        } else {
            d.deserialize_f64(ExactVisitor)
        }
    }
}

/// `#[serde(with = "exact::float")]` for an `f64`.
pub(crate) mod float {
    use super::*;

    pub(crate) fn serialize<S: Serializer>(v: &f64, s: S) -> Result<S::Ok, S::Error> {
        Exact(*v).serialize(s)
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
        Ok(Exact::deserialize(d)?.0)
    }
}

/// `#[serde(with = "exact::vec")]` for a `Vec<f64>`.
pub(crate) mod vec {
    use super::*;

    pub(crate) fn serialize<S: Serializer>(v: &[f64], s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(v.iter().map(|&x| Exact(x)))
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<f64>, D::Error> {
        Ok(Vec::<Exact>::deserialize(d)?
            .into_iter()
            .map(|e| e.0)
            .collect())
    }
}

/// `#[serde(with = "exact::map")]` for a `BTreeMap<K, f64>`.
pub(crate) mod map {
    use super::*;

    pub(crate) fn serialize<K: Serialize, S: Serializer>(
        m: &BTreeMap<K, f64>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        s.collect_map(m.iter().map(|(k, &v)| (k, Exact(v))))
    }

    pub(crate) fn deserialize<'de, K, D>(d: D) -> Result<BTreeMap<K, f64>, D::Error>
    where
        K: Deserialize<'de> + Ord,
        D: Deserializer<'de>,
    {
        let m = BTreeMap::<K, Exact>::deserialize(d)?;
        Ok(m.into_iter().map(|(k, v)| (k, v.0)).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct Probe {
        #[serde(with = "float")]
        x: f64,
        #[serde(with = "vec")]
        v: Vec<f64>,
        #[serde(with = "map")]
        m: BTreeMap<u64, f64>,
    }

    #[test]
    fn floats_round_trip_exactly_through_json() {
        // serde_json alone reads 0.42486938211396597 back as 0.424869382113966.
        let hard = 0.42486938211396597_f64;
        let probe = Probe {
            x: hard,
            v: vec![hard, -1e-300, 0.1 + 0.2],
            m: BTreeMap::from([(3, hard), (5, 1e300)]),
        };
        let json = serde_json::to_string(&probe).unwrap();
        let back: Probe = serde_json::from_str(&json).unwrap();
        assert_eq!(back, probe);
        assert_eq!(back.x.to_bits(), hard.to_bits());
        let plain: Probe =
            serde_json::from_str(r#"{"x": 1, "v": [0.5], "m": {"1": 2.5}}"#).unwrap();
        assert_eq!((plain.x, plain.v[0], plain.m[&1]), (1.0, 0.5, 2.5));
        assert!(serde_json::from_str::<Probe>(r#"{"x": "one", "v": [], "m": {}}"#).is_err());
    }
}
