//! Services, their identity, type, plan, nodes and maintenance window.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Datelike, Duration, NaiveTime, Utc, Weekday};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::version::Version;

/// A service's identity: its project and its name, unique within the project.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ServiceKey {
    /// The project the service belongs to.
    pub project: String,
    /// The service's name within the project.
    pub name: String,
}

impl ServiceKey {
    /// Builds a key from a project and a service name.
    #[must_use]
    pub fn new(project: impl Into<String>, name: impl Into<String>) -> Self {
        Self {
            project: project.into(),
            name: name.into(),
        }
    }
}

impl fmt::Display for ServiceKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.project, self.name)
    }
}

impl Serialize for ServiceKey {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for ServiceKey {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        let (p, n) = s
            .split_once('/')
            .ok_or_else(|| serde::de::Error::custom(format!("'{s}' is not project/service")))?;
        Ok(ServiceKey::new(p, n))
    }
}

macro_rules! text_enum {
    ($(#[$m:meta])* $name:ident, $what:literal, { $($(#[$vm:meta])* $variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(rename_all = "lowercase")]
        pub enum $name { $($(#[$vm])* $variant),+ }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The name used on the command line and in JSON.
            #[must_use]
            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl FromStr for $name {
            type Err = String;
            fn from_str(s: &str) -> Result<Self, String> {
                $name::ALL
                    .iter()
                    .copied()
                    .find(|v| v.as_str() == s)
                    .ok_or_else(|| {
                        let names: Vec<&str> = $name::ALL.iter().map(|v| v.as_str()).collect();
                        format!(concat!("unknown ", $what, " '{}': use one of {}"), s, names.join(", "))
                    })
            }
        }
    };
}

text_enum!(
    /// The kind of managed service.
    ServiceType, "service type", {
        /// PostgreSQL.
        Pg => "pg",
        /// Apache Kafka.
        Kafka => "kafka",
        /// Redis.
        Redis => "redis",
        /// OpenSearch.
        Opensearch => "opensearch",
        /// ClickHouse.
        Clickhouse => "clickhouse",
        /// Valkey.
        Valkey => "valkey",
        /// Grafana.
        Grafana => "grafana",
        /// Cassandra.
        Cassandra => "cassandra",
        /// Dragonfly.
        Dragonfly => "dragonfly",
        /// MySQL (cannot be in a pipeline, P1).
        Mysql => "mysql",
        /// Apache Flink (cannot be in a pipeline, P1).
        Flink => "flink",
    }
);

impl ServiceType {
    /// P1: whether services of this type may be linked by upgrade steps.
    #[must_use]
    pub fn supports_pipelines(self) -> bool {
        !matches!(self, ServiceType::Mysql | ServiceType::Flink)
    }
}

text_enum!(
    /// The service plan, which decides the number of nodes.
    Plan, "plan", {
        /// One node, no standby.
        Hobbyist => "hobbyist",
        /// One node, no standby.
        Startup => "startup",
        /// A primary and one standby.
        Business => "business",
        /// A primary and two standbys.
        Premium => "premium",
    }
);

impl Plan {
    /// How many nodes a service on this plan runs.
    #[must_use]
    pub fn node_count(self) -> usize {
        match self {
            Plan::Hobbyist | Plan::Startup => 1,
            Plan::Business => 2,
            Plan::Premium => 3,
        }
    }
}

/// The weekly maintenance window: a day of the week and a UTC time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct MaintenanceWindow {
    /// The day of the week, lower-case English name (`tuesday`).
    #[serde(with = "weekday_text")]
    pub dow: Weekday,
    /// The time of day, UTC.
    pub time: NaiveTime,
}

impl MaintenanceWindow {
    /// The first start of this window strictly after `after`.
    #[must_use]
    pub fn next_after(&self, after: DateTime<Utc>) -> DateTime<Utc> {
        let date = after.date_naive();
        let back = i64::from(date.weekday().num_days_from_monday());
        let monday = date - Duration::days(back);
        let day = monday + Duration::days(i64::from(self.dow.num_days_from_monday()));
        let mut at = day.and_time(self.time).and_utc();
        while at <= after {
            at += Duration::days(7);
        }
        while at - Duration::days(7) > after {
            at -= Duration::days(7);
        }
        at
    }

    /// Parses a day of the week as given on the command line (`tuesday`, `tue`).
    pub fn parse_dow(s: &str) -> Result<Weekday, String> {
        s.parse::<Weekday>().map_err(|_| {
            format!("unknown day '{s}': use monday, tuesday, wednesday, thursday, friday, saturday or sunday")
        })
    }
}

impl fmt::Display for MaintenanceWindow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {} UTC", self.dow, self.time.format("%H:%M"))
    }
}

mod weekday_text {
    use chrono::Weekday;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(d: &Weekday, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(super::weekday_name(*d))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Weekday, D::Error> {
        let s = String::deserialize(d)?;
        s.parse()
            .map_err(|_| serde::de::Error::custom(format!("unknown day '{s}'")))
    }
}

/// The lower-case English name of a weekday.
#[must_use]
pub fn weekday_name(d: Weekday) -> &'static str {
    match d {
        Weekday::Mon => "monday",
        Weekday::Tue => "tuesday",
        Weekday::Wed => "wednesday",
        Weekday::Thu => "thursday",
        Weekday::Fri => "friday",
        Weekday::Sat => "saturday",
        Weekday::Sun => "sunday",
    }
}

/// The role a node plays in its service.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NodeRole {
    /// Takes writes; the primary endpoint points here.
    Primary,
    /// Follows the primary; the replica endpoint points here.
    Standby,
    /// A former primary, down or forwarding TCP to the new one until it is removed (F1, F4).
    Former,
}

/// Whether a node serves (F1–F4).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NodeStatus {
    /// Up and in sync.
    #[default]
    Up,
    /// Not answering; lockstep waits for its timeout before acting.
    Unreachable,
    /// Marked down after its timeout; it will be removed once replaced.
    Down,
    /// Being built (restored from backup or synced from the primary).
    Building,
    /// A former primary forwarding TCP to the new one (F4).
    Forwarding,
}

/// Where a service's two DNS endpoints point: node names, `None` when unreachable.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Endpoints {
    /// `NAME-PROJECT`: the primary endpoint.
    pub primary: Option<String>,
    /// `replica-NAME-PROJECT`: the replica endpoint (none on plans without standbys).
    pub replica: Option<String>,
}

/// One server of a service.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Node {
    /// The node's name (`pg-prod-1`).
    pub name: String,
    /// Its role.
    pub role: NodeRole,
    /// The version it runs (V5: replaced nodes come up on the pinned version).
    pub version: Version,
    /// Whether it serves.
    #[serde(default)]
    pub status: NodeStatus,
}

/// A maintenance update being applied.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Updating {
    /// The version being applied.
    pub target: Version,
    /// When applying started.
    pub started_at: DateTime<Utc>,
    /// When it will be done.
    pub finishes_at: DateTime<Utc>,
    /// Whether it goes past the pinned version (V7 emergency override).
    pub emergency_override: bool,
}

/// A managed service.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Service {
    /// Project and name.
    pub key: ServiceKey,
    /// The kind of service.
    pub service_type: ServiceType,
    /// The plan.
    pub plan: Plan,
    /// The version it runs now.
    pub version: Version,
    /// When it received its current version (creation counts as receiving it).
    pub updated_at: DateTime<Utc>,
    /// The weekly maintenance window.
    pub maintenance: MaintenanceWindow,
    /// Whether the service is powered on.
    pub powered: bool,
    /// The update being applied, if any.
    pub updating: Option<Updating>,
    /// Whether its current version arrived by an emergency override (V7) not yet validated.
    pub emergency_override: bool,
    /// Its nodes, primary first.
    pub nodes: Vec<Node>,
    /// Where its endpoints point (F1–F4).
    #[serde(default)]
    pub endpoints: Endpoints,
    /// F2: seconds a lost standby may stay away before it is replaced (default 300).
    #[serde(default)]
    pub standby_timeout_s: Option<u32>,
}

impl Service {
    /// The nodes a fresh service on `plan` starts with.
    #[must_use]
    pub fn initial_nodes(name: &str, plan: Plan, version: &Version) -> Vec<Node> {
        (1..=plan.node_count())
            .map(|i| Node {
                name: format!("{name}-{i}"),
                role: if i == 1 {
                    NodeRole::Primary
                } else {
                    NodeRole::Standby
                },
                version: version.clone(),
                status: NodeStatus::Up,
            })
            .collect()
    }

    /// Where a fresh service's endpoints point: the primary, and the first standby if any.
    #[must_use]
    pub fn initial_endpoints(nodes: &[Node]) -> Endpoints {
        let named = |role| {
            nodes
                .iter()
                .find(|n| n.role == role)
                .map(|n| n.name.clone())
        };
        Endpoints {
            primary: named(NodeRole::Primary),
            replica: named(NodeRole::Standby),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn next_window_is_strictly_after_the_given_instant() {
        let w = MaintenanceWindow {
            dow: Weekday::Tue,
            time: NaiveTime::from_hms_opt(3, 0, 0).expect("time"),
        };
        // 2026-01-06 is a Tuesday.
        let at = Utc.with_ymd_and_hms(2026, 1, 6, 3, 0, 0).unwrap();
        assert_eq!(w.next_after(at - Duration::seconds(1)), at);
        assert_eq!(w.next_after(at), at + Duration::days(7));
        let sunday = Utc.with_ymd_and_hms(2026, 1, 4, 12, 0, 0).unwrap();
        assert_eq!(w.next_after(sunday), at);
        let wednesday = Utc.with_ymd_and_hms(2026, 1, 7, 0, 0, 0).unwrap();
        assert_eq!(w.next_after(wednesday), at + Duration::days(7));
    }

    #[test]
    fn p1_mysql_and_flink_cannot_be_in_pipelines() {
        assert!(!ServiceType::Mysql.supports_pipelines());
        assert!(!ServiceType::Flink.supports_pipelines());
        assert!(ServiceType::Pg.supports_pipelines());
    }

    #[test]
    fn unknown_type_names_the_allowed_ones() {
        let e = "postgres".parse::<ServiceType>().expect_err("unknown");
        assert!(e.contains("pg, kafka"), "{e}");
    }
}
