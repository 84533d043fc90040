//! Golden tests for the plan printer (`sluice explain`): the exact text for two pipelines.

fn explain(source: &str) -> String {
    match sluice_dsl::compile(source, "golden", &|_| None) {
        Ok(plan) => plan.to_string(),
        Err(diags) => panic!("{diags:#?}"),
    }
}

const FLIGHTS: &str = r#"pipeline flight_delays

source flights = file("data/flights.csv") as csv {
  schema {
    carrier: string
    origin: string
    dep_delay: float?
    distance: float
    event_time: timestamp
  }
  event_time = event_time
  max_out_of_order = 1d
}

table airports = file("${AIRPORTS_DIR:-data}/airports.csv") as csv {
  schema { faa: string  name: string  lat: float  lon: float }
  key = faa
}

stream late = flights | where dep_delay > 60 and distance / 2 > 10

stream per_carrier = late
  | window tumbling(1h)
  | group by carrier
  | aggregate n = count(), total = sum(dep_delay), worst = max(dep_delay)

stream enriched = flights
  | left join airports on origin == airports.faa
  | select carrier, origin, name, dist_km = haversine_km(lat, lon, 40.64, -73.78), h = hour(event_time)
  | top 3 by dist_km desc per carrier @gpu

sink out = file("out/late.jsonl") as jsonl <- per_carrier
sink console = stdout as csv { mode = snapshot_every(10s) } <- enriched

test "late flights are counted per carrier" {
  given flights = [
    { carrier: "AA", origin: "JFK", dep_delay: 75.0, distance: 1000, event_time: @2013-01-01T05:00:00Z },
    { carrier: "AA", origin: "JFK", dep_delay: 3.0, distance: 1000, event_time: @2013-01-01T05:10:00Z },
  ]
  expect out = [
    { carrier: "AA", window_start: @2013-01-01T05:00:00Z, window_end: @2013-01-01T06:00:00Z, n: 1, total: 75.0, worst: 75.0 },
  ]
}
"#;

const FLIGHTS_PLAN: &str = r#"pipeline flight_delays
source flights: file("data/flights.csv") as csv schema=[carrier: string, origin: string, dep_delay: float?, distance: float, event_time: timestamp] event_time=event_time max_out_of_order=1d
table airports: file("data/airports.csv") as csv schema=[faa: string, name: string, lat: float, lon: float] key=[faa]
stream late <- flights
  Filter: dep_delay > 60.0 and distance / 2.0 > 10.0
  => [carrier: string, origin: string, dep_delay: float?, distance: float, event_time: timestamp]
stream per_carrier <- late
  Aggregate: window=tumbling(1h) keys=[carrier] aggs=[n = count(), total = sum(dep_delay), worst = max(dep_delay)]
  => [carrier: string, window_start: timestamp, window_end: timestamp, n: int, total: float?, worst: float?]
stream enriched <- flights
  Join: left airports on origin == airports.faa
  Project: carrier, origin, name, dist_km = haversine_km(lat, lon, 40.64, -73.78), h = hour(event_time)
  Top: k=3 by=[dist_km desc] per=[carrier] @gpu
  => [carrier: string, origin: string, name: string?, dist_km: float?, h: int, rank: int]
sink out <- per_carrier: file("out/late.jsonl") as jsonl mode=append
sink console <- enriched: stdout as csv mode=snapshot_every(10s)
test "late flights are counted per carrier": given=[flights: 2 rows] expect=[per_carrier: 1 row]
"#;

#[test]
fn explain_flight_delays() {
    assert_eq!(explain(FLIGHTS), FLIGHTS_PLAN);
}

const AUCTIONS: &str = r#"pipeline auctions

source bids = generator(nexmark, events = 5000, rate = 100, seed = 3)
source clicks = kafka(topic = "clicks", brokers = "127.0.0.1:9092", group = "sluice") as json {
  schema { auction: int  user: string?  lat: float  lon: float  event_time: timestamp }
  event_time = event_time
  max_out_of_order = 250ms
  dead_letter = file("bad/clicks.jsonl") as jsonl
}
source more_bids = file("bids.csv") as csv {
  schema { auction: int  bidder: int  price: int  channel: string  url: string  event_time: timestamp  extra: string }
  header = false
  event_time = event_time
}
table users = stdin as jsonl {
  schema { user: string  region: string  tier: int? }
  key = user
}

stream all_bids = union(bids, more_bids)
  | where (price + 1) * 2 > 100 and not (channel == "web" or url is null)
  | distinct on auction, bidder within 1h

stream engaged = all_bids
  | join clicks on auction == clicks.auction within 10m
  | left join users on user == users.user
  | select auction, price, region = coalesce(region, "unknown"), late = event_time - clicks_event_time > 5m, t = -(price - 3)
  | route by hash(auction) @cpu

stream sessions = clicks
  | window session(gap 30m)
  | group by user
  | aggregate n = count(), last_seen = last(event_time), p90 = percentile(lat, 0.9)

stream hot = clicks
  | window sliding(1h, every 15m)
  | aggregate spread = max(lat) , clicks = count_distinct(user)
  | top 5 by clicks desc per window_start

stream located = clicks | route by geo(lat, lon) @gpu | select auction, h = date_trunc("minute", event_time), inside = auction in (1, 2, 3)

sink out = kafka(topic = "out", brokers = "${BROKERS:-127.0.0.1:9092}") as json { mode = changelog } <- engaged
sink s = file("s.csv") as csv { overwrite = false } <- sessions
sink h = stdout as jsonl <- hot
sink l = stdout as jsonl <- located
"#;

const AUCTIONS_PLAN: &str = r#"pipeline auctions
source bids: generator(nexmark, events_of="bid", events=5000, rate=100, seed=3) schema=[auction: int, bidder: int, price: int, channel: string, url: string, event_time: timestamp, extra: string] event_time=event_time max_out_of_order=0s
source clicks: kafka(topic="clicks", brokers="127.0.0.1:9092", group="sluice") as json schema=[auction: int, user: string?, lat: float, lon: float, event_time: timestamp] event_time=event_time max_out_of_order=250ms dead_letter=file("bad/clicks.jsonl") as jsonl
source more_bids: file("bids.csv") as csv schema=[auction: int, bidder: int, price: int, channel: string, url: string, event_time: timestamp, extra: string] header=false event_time=event_time max_out_of_order=0s
table users: stdin as jsonl schema=[user: string, region: string, tier: int?] key=[user]
stream all_bids <- union(bids, more_bids)
  Filter: (price + 1) * 2 > 100 and not (channel == "web" or url is null)
  Distinct: on=[auction, bidder] within=1h
  => [auction: int, bidder: int, price: int, channel: string, url: string, event_time: timestamp, extra: string]
stream engaged <- all_bids
  Join: inner clicks on auction == clicks.auction within=10m
  Join: left users on user == users.user
  Project: auction, price, region = coalesce(region, "unknown"), late = event_time - clicks_event_time > 5m, t = -(price - 3)
  Route: hash(auction) @cpu
  => [auction: int, price: int, region: string, late: bool, t: int]
stream sessions <- clicks
  Aggregate: window=session(gap 30m) keys=[user] aggs=[n = count(), last_seen = last(event_time), p90 = percentile(lat, 0.9)]
  => [user: string?, window_start: timestamp, window_end: timestamp, n: int, last_seen: timestamp, p90: float?]
stream hot <- clicks
  Aggregate: window=sliding(1h, every 15m) keys=[] aggs=[spread = max(lat), clicks = count_distinct(user)]
  Top: k=5 by=[clicks desc] per=[window_start]
  => [window_start: timestamp, window_end: timestamp, spread: float, clicks: int, rank: int]
stream located <- clicks
  Route: geo(lat, lon) @gpu
  Project: auction, h = date_trunc("minute", event_time), inside = auction in (1, 2, 3)
  => [auction: int, h: timestamp, inside: bool]
sink out <- engaged: kafka(topic="out", brokers="127.0.0.1:9092") as json mode=changelog
sink s <- sessions: file("s.csv") as csv mode=append overwrite=false
sink h <- hot: stdout as jsonl mode=append
sink l <- located: stdout as jsonl mode=append
"#;

#[test]
fn explain_auctions() {
    assert_eq!(explain(AUCTIONS), AUCTIONS_PLAN);
}
