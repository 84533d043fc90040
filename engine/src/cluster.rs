//! Runs on several processes: the hostfile, the TCP mesh between processes and the per-process
//! names of outputs. Timely does the rest: worker `w` of process `p` (with `t` threads each) is
//! global worker `p * t + w`, and every exchange already carries `WireBatch`es (Arrow IPC), so
//! the same dataflow runs unchanged on one process or many.
//!
//! The mesh is built here rather than by timely's `CommunicationConfig::Cluster` because timely
//! prints its connection progress with `println!`, which would mix into a `stdout` sink, and
//! retries only once a second. The handshake is timely's own (each connecting process sends its
//! index as a big-endian u64), so the sockets go straight into timely's networking.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Which process of how many this is, and where every process listens.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClusterSpec {
    pub processes: usize,
    /// This process's index, `0..processes`.
    pub process: usize,
    /// `host:port` of every process, in process order; empty for a single process (and for
    /// `explain`, which needs only the count).
    pub addresses: Vec<String>,
}

impl Default for ClusterSpec {
    fn default() -> ClusterSpec {
        ClusterSpec::single()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    #[error("cannot read hostfile `{path}`: {source}")]
    ReadHostfile {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("hostfile `{path}` lists {found} address(es), expected {expected} (one per process)")]
    LineCount {
        path: String,
        expected: usize,
        found: usize,
    },
    #[error("hostfile `{path}`, line {line}: `{text}` is not host:port ({reason})")]
    BadAddress {
        path: String,
        line: usize,
        text: String,
        reason: String,
    },
    #[error("--process {process} is out of range for --processes {processes} (0..{processes})")]
    ProcessIndex { process: usize, processes: usize },
    #[error("--processes must be at least 1")]
    NoProcesses,
    #[error("cannot connect process {process} to the cluster: {source}")]
    Connect {
        process: usize,
        #[source]
        source: std::io::Error,
    },
}

impl ClusterSpec {
    /// One process, no network.
    pub fn single() -> ClusterSpec {
        ClusterSpec {
            processes: 1,
            process: 0,
            addresses: Vec::new(),
        }
    }

    /// Process `process` of `processes`, addresses from `hostfile` (one `host:port` a line).
    pub fn from_hostfile(
        processes: usize,
        process: usize,
        hostfile: &Path,
    ) -> Result<ClusterSpec, ClusterError> {
        let path = hostfile.display().to_string();
        let text =
            std::fs::read_to_string(hostfile).map_err(|source| ClusterError::ReadHostfile {
                path: path.clone(),
                source,
            })?;
        let addresses = parse_hostfile(&text, &path, processes)?;
        ClusterSpec::new(processes, process, addresses)
    }

    /// Checks that `process` is in range and there is one address per process.
    pub fn new(
        processes: usize,
        process: usize,
        addresses: Vec<String>,
    ) -> Result<ClusterSpec, ClusterError> {
        if processes == 0 {
            return Err(ClusterError::NoProcesses);
        }
        if process >= processes {
            return Err(ClusterError::ProcessIndex { process, processes });
        }
        Ok(ClusterSpec {
            processes,
            process,
            addresses,
        })
    }

    pub fn is_multi_process(&self) -> bool {
        self.processes > 1
    }

    /// Global indices of this process's workers, `threads` per process.
    pub fn local_workers(&self, threads: usize) -> std::ops::Range<usize> {
        self.process * threads..(self.process + 1) * threads
    }
}

/// The addresses of a hostfile: one `host:port` per non-empty line (`#` starts a comment),
/// exactly `processes` of them.
pub fn parse_hostfile(
    text: &str,
    path: &str,
    processes: usize,
) -> Result<Vec<String>, ClusterError> {
    let mut addresses = Vec::new();
    for (number, line) in text.lines().enumerate() {
        let address = line.split('#').next().unwrap_or("").trim();
        if address.is_empty() {
            continue;
        }
        let bad = |reason: &str| ClusterError::BadAddress {
            path: path.to_string(),
            line: number + 1,
            text: address.to_string(),
            reason: reason.to_string(),
        };
        let Some((host, port)) = address.rsplit_once(':') else {
            return Err(bad("no `:port`"));
        };
        if host.is_empty() {
            return Err(bad("empty host"));
        }
        if port.parse::<u16>().is_err() {
            return Err(bad("port must be 0..=65535"));
        }
        addresses.push(address.to_string());
    }
    if addresses.len() != processes {
        return Err(ClusterError::LineCount {
            path: path.to_string(),
            expected: processes,
            found: addresses.len(),
        });
    }
    Ok(addresses)
}

/// How often a process retries connecting to a peer that is not listening yet.
const RETRY: Duration = Duration::from_millis(50);

/// Connects this process to every other one: it accepts connections from higher-indexed
/// processes on its own address and connects to lower-indexed ones, retrying until they
/// listen. Blocks until every peer is connected (a peer that never starts blocks forever, as
/// in timely). Element `i` is the stream to process `i`; `None` at this process's own index.
pub fn connect(spec: &ClusterSpec) -> Result<Vec<Option<TcpStream>>, ClusterError> {
    let process = spec.process;
    let err = |source| ClusterError::Connect { process, source };
    let listener = TcpListener::bind(resolve(&spec.addresses[process]).map_err(err)?.as_slice())
        .map_err(err)?;
    let lower = spec.addresses[..process].to_vec();
    let connecting = std::thread::spawn(move || -> std::io::Result<Vec<Option<TcpStream>>> {
        lower
            .iter()
            .map(|address| {
                let addrs = resolve(address)?;
                let mut stream = loop {
                    match TcpStream::connect(addrs.as_slice()) {
                        Ok(stream) => break stream,
                        Err(e) => {
                            tracing::debug!(%address, error = %e, "peer not listening yet; retrying");
                            std::thread::sleep(RETRY);
                        }
                    }
                };
                stream.set_nodelay(true)?;
                stream.write_all(&(process as u64).to_be_bytes())?;
                Ok(Some(stream))
            })
            .collect()
    });
    let mut higher: Vec<Option<TcpStream>> = (process + 1..spec.processes).map(|_| None).collect();
    while higher.iter().any(Option::is_none) {
        let (mut stream, _) = listener.accept().map_err(err)?;
        stream.set_nodelay(true).map_err(err)?;
        let mut index = [0u8; 8];
        stream.read_exact(&mut index).map_err(err)?;
        let index = u64::from_be_bytes(index) as usize;
        match higher.get_mut(index.wrapping_sub(process + 1)) {
            Some(slot @ None) => *slot = Some(stream),
            _ => tracing::warn!(
                index,
                "ignored a connection with an unexpected process index"
            ),
        }
    }
    let mut sockets = connecting
        .join()
        .map_err(|_| err(std::io::Error::other("connecting thread panicked")))?
        .map_err(err)?;
    sockets.push(None);
    sockets.extend(higher);
    Ok(sockets)
}

fn resolve(address: &str) -> std::io::Result<Vec<std::net::SocketAddr>> {
    Ok(address.to_socket_addrs()?.collect())
}

/// The path process `process` writes a per-process output to: the configured path for process
/// 0, else `.pI` inserted before the extension (`bad.jsonl` -> `bad.p1.jsonl`).
pub fn per_process_path(path: &Path, process: usize) -> PathBuf {
    if process == 0 {
        return path.to_path_buf();
    }
    let stem = path.file_stem().unwrap_or_default().to_string_lossy();
    let name = match path.extension() {
        Some(ext) => format!("{stem}.p{process}.{}", ext.to_string_lossy()),
        None => format!("{stem}.p{process}"),
    };
    path.with_file_name(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_one_address_a_line_skipping_blanks_and_comments() {
        let text = "# cluster\n127.0.0.1:2101\n\n  host-b:2102  # second\n";
        let got = parse_hostfile(text, "hosts", 2).unwrap();
        assert_eq!(got, vec!["127.0.0.1:2101", "host-b:2102"]);
    }

    #[test]
    fn wrong_line_count_names_the_file_and_both_counts() {
        let e = parse_hostfile("a:1\n", "hosts.txt", 2).unwrap_err();
        assert_eq!(
            e.to_string(),
            "hostfile `hosts.txt` lists 1 address(es), expected 2 (one per process)"
        );
        assert!(parse_hostfile("a:1\nb:2\nc:3\n", "h", 2).is_err());
    }

    #[test]
    fn bad_address_names_the_line() {
        let e = parse_hostfile("a:1\nlocalhost\n", "hosts.txt", 2).unwrap_err();
        assert_eq!(
            e.to_string(),
            "hostfile `hosts.txt`, line 2: `localhost` is not host:port (no `:port`)"
        );
        let e = parse_hostfile("a:99999\n", "h", 1).unwrap_err();
        assert!(e.to_string().contains("line 1"), "{e}");
        let e = parse_hostfile(":80\n", "h", 1).unwrap_err();
        assert!(e.to_string().contains("empty host"), "{e}");
    }

    #[test]
    fn ipv6_addresses_keep_their_colons() {
        assert_eq!(
            parse_hostfile("[::1]:2101\n", "h", 1).unwrap(),
            vec!["[::1]:2101"]
        );
    }

    #[test]
    fn process_index_must_be_in_range() {
        assert!(ClusterSpec::new(2, 1, vec![]).is_ok());
        let e = ClusterSpec::new(2, 2, vec![]).unwrap_err();
        assert!(matches!(e, ClusterError::ProcessIndex { .. }));
        assert!(matches!(
            ClusterSpec::new(0, 0, vec![]),
            Err(ClusterError::NoProcesses)
        ));
    }

    #[test]
    fn missing_hostfile_names_it() {
        let e = ClusterSpec::from_hostfile(2, 0, Path::new("/nonexistent/hosts")).unwrap_err();
        assert!(
            e.to_string()
                .starts_with("cannot read hostfile `/nonexistent/hosts`")
        );
    }

    #[test]
    fn per_process_paths_insert_the_index_before_the_extension() {
        let p = Path::new("dead_letters/x/flights.jsonl");
        assert_eq!(per_process_path(p, 0), p);
        assert_eq!(
            per_process_path(p, 1),
            Path::new("dead_letters/x/flights.p1.jsonl")
        );
        assert_eq!(per_process_path(Path::new("bad"), 3), Path::new("bad.p3"));
    }

    #[test]
    fn local_workers_are_a_contiguous_global_range() {
        let spec = ClusterSpec::new(3, 1, vec![]).unwrap();
        assert_eq!(spec.local_workers(4), 4..8);
    }

    #[test]
    fn three_processes_connect_to_each_other() {
        let ports: Vec<u16> = (0..3)
            .map(|_| {
                TcpListener::bind("127.0.0.1:0")
                    .unwrap()
                    .local_addr()
                    .unwrap()
                    .port()
            })
            .collect();
        let addresses: Vec<String> = ports.iter().map(|p| format!("127.0.0.1:{p}")).collect();
        let handles: Vec<_> = (0..3)
            .map(|process| {
                let spec = ClusterSpec::new(3, process, addresses.clone()).unwrap();
                std::thread::spawn(move || connect(&spec).unwrap())
            })
            .collect();
        for (process, handle) in handles.into_iter().enumerate() {
            let sockets = handle.join().unwrap();
            assert_eq!(sockets.len(), 3);
            for (i, s) in sockets.iter().enumerate() {
                assert_eq!(s.is_none(), i == process);
            }
        }
    }
}
