//! How a snapshot of the state is encoded: MessagePack with field names (self-describing, so
//! the state's tagged enums round-trip), in parts — the services and the incidents, the bulk of
//! a large fleet, in two halves each — so that opening decodes them on two threads at once.
//!
//! Layout: `LSS2`, then five parts, each a little-endian u64 length and its bytes: the state
//! without services and incidents, the first and second half of the services, the first and
//! second half of the incidents. Snapshots written as one MessagePack map or as JSON by an
//! older lockstep are still read.

use std::collections::BTreeMap;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::model::{Incident, Service, State};

use super::EngineError;
use super::storage;

const MAGIC: &[u8; 4] = b"LSS2";
const PARTS: usize = 5;

/// Encodes `state` (which is borrowed mutably only to set its services and incidents aside
/// while the rest is encoded; it is left as it was).
pub fn encode(state: &mut State) -> Result<Vec<u8>, EngineError> {
    let services = std::mem::take(&mut state.services);
    let incidents = std::mem::take(&mut state.incidents);
    let rest = rmp_serde::to_vec_named(&*state);
    state.services = services;
    state.incidents = incidents;
    let (services_a, services_b) = halves(state.services.values());
    let (incidents_a, incidents_b) = halves(state.incidents.values());
    let parts = [
        rest.map_err(storage)?,
        named(&services_a)?,
        named(&services_b)?,
        named(&incidents_a)?,
        named(&incidents_b)?,
    ];
    let mut out =
        Vec::with_capacity(MAGIC.len() + parts.iter().map(|p| p.len() + 8).sum::<usize>());
    out.extend_from_slice(MAGIC);
    for part in parts {
        out.extend_from_slice(&(part.len() as u64).to_le_bytes());
        out.extend_from_slice(&part);
    }
    Ok(out)
}

/// Decodes a snapshot written by [`encode`], or by an older lockstep.
pub fn decode(body: &[u8]) -> Result<State, EngineError> {
    if body.first() == Some(&b'{') {
        return serde_json::from_slice::<State>(body).map_err(storage);
    }
    let Some(tail) = body.strip_prefix(MAGIC) else {
        return rmp_serde::from_slice::<State>(body).map_err(storage);
    };
    let [rest, services_a, services_b, incidents_a, incidents_b] = split(tail)?;
    let (far, near) = std::thread::scope(|s| {
        let far = s.spawn(|| {
            Ok::<_, EngineError>((
                part::<Vec<Service>>(services_b)?,
                part::<Vec<Incident>>(incidents_b)?,
            ))
        });
        let near = (|| {
            Ok::<_, EngineError>((
                part::<State>(rest)?,
                part::<Vec<Service>>(services_a)?,
                part::<Vec<Incident>>(incidents_a)?,
            ))
        })();
        (far.join(), near)
    });
    let (services_b, incidents_b) =
        far.map_err(|_| storage("the snapshot's decoding thread failed"))??;
    let (mut state, services_a, incidents_a) = near?;
    state.services = services_a
        .into_iter()
        .chain(services_b)
        .map(|s| (s.key.clone(), s))
        .collect::<BTreeMap<_, _>>();
    state.incidents = incidents_a
        .into_iter()
        .chain(incidents_b)
        .map(|i| (i.incident_id, i))
        .collect::<BTreeMap<_, _>>();
    Ok(state)
}

fn halves<'a, T>(values: impl Iterator<Item = &'a T>) -> (Vec<&'a T>, Vec<&'a T>) {
    let mut first: Vec<&T> = values.collect();
    let second = first.split_off(first.len() / 2);
    (first, second)
}

fn named<T: Serialize + ?Sized>(value: &T) -> Result<Vec<u8>, EngineError> {
    rmp_serde::to_vec_named(value).map_err(storage)
}

fn part<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, EngineError> {
    rmp_serde::from_slice(bytes).map_err(storage)
}

fn split(mut tail: &[u8]) -> Result<[&[u8]; PARTS], EngineError> {
    let truncated = || storage("the snapshot is truncated");
    let mut parts = [&[][..]; PARTS];
    for part in &mut parts {
        let (len, rest) = tail.split_first_chunk::<8>().ok_or_else(truncated)?;
        let len = usize::try_from(u64::from_le_bytes(*len)).map_err(|_| truncated())?;
        if rest.len() < len {
            return Err(truncated());
        }
        (*part, tail) = rest.split_at(len);
    }
    Ok(parts)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::testkit::World;
    use crate::model::{Command, ServiceType};

    fn fleet() -> State {
        let mut w = World::new();
        w.release(ServiceType::Pg, "15.8", false);
        for i in 0..7 {
            w.service("p", &format!("s{i}"), ServiceType::Pg, "15.8");
        }
        w.ok(Command::CreateStep {
            organization_id: None,
            source: crate::model::testkit::k("p", "s0"),
            destination: crate::model::testkit::k("p", "s1"),
            auto_validation_delay_days: Some(3),
        });
        for i in [2, 5] {
            w.ok(Command::SimFault {
                service: crate::model::testkit::k("p", &format!("s{i}")),
                fault: crate::model::run::Fault::PrimaryLost,
                clear: false,
            });
        }
        assert_eq!(w.state.incidents.len(), 2, "two incidents to encode");
        w.state
    }

    #[test]
    fn a_snapshot_decodes_to_the_state_it_was_encoded_from_and_leaves_it_whole() {
        let mut state = fleet();
        let before = serde_json::to_value(&state).expect("json");
        let body = encode(&mut state).expect("encode");
        assert_eq!(serde_json::to_value(&state).expect("json"), before);
        let back = decode(&body).expect("decode");
        assert_eq!(serde_json::to_value(&back).expect("json"), before);
        assert_eq!(back.services.len(), 7);
    }

    #[test]
    fn snapshots_of_older_lockstep_versions_are_still_read() {
        let state = fleet();
        let before = serde_json::to_value(&state).expect("json");
        let json = serde_json::to_vec(&state).expect("json");
        let map = rmp_serde::to_vec_named(&state).expect("msgpack");
        for body in [json, map] {
            let back = decode(&body).expect("decode");
            assert_eq!(serde_json::to_value(&back).expect("json"), before);
        }
    }

    #[test]
    fn a_truncated_snapshot_is_an_error_not_a_panic() {
        let mut state = fleet();
        let body = encode(&mut state).expect("encode");
        for len in [4, 11, body.len() / 2, body.len() - 1] {
            assert!(decode(&body[..len]).is_err(), "{len} bytes decoded");
        }
    }
}
