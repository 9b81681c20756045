//! Deterministic gzip on every core.
//!
//! The input is cut into fixed 1 MiB chunks; each chunk is deflated on its
//! own (no shared history) and ends with a sync flush, which leaves the
//! stream byte-aligned, so the compressed chunks concatenate into one valid
//! deflate stream. A final empty block, the combined CRC-32 and the length
//! close a single gzip member, readable by any gzip tool. Because chunk
//! boundaries never depend on the number of threads, the output is the same
//! bytes on any machine for the same larder build.
//!
//! The gzip header is that of `flate2::GzBuilder` with mtime 0 and no file
//! name: no timestamp, no name, OS "unknown".
//!
//! A writer may also [`cut`](ParallelGz::cut) a chunk short. `package` cuts
//! where each cookbook's entries begin and where the last one ends, so each
//! cookbook's entries are a run of whole chunks: a byte range of the bundle
//! that a fresh raw inflater can read on its own
//! ([`super::cookbook_ranges`]). [`ParallelGz::finish`] says where in the
//! output each cut fell, so `package` knows those ranges without reading
//! the bundle back.

use std::collections::BTreeMap;
use std::io::{self, Write};
use std::sync::mpsc::{self, Receiver, SyncSender};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use flate2::{Compress, Compression, Crc, FlushCompress};

/// Uncompressed bytes per independently compressed chunk.
pub const CHUNK_SIZE: usize = 1 << 20;

/// The deflate level of every bundle.
pub const LEVEL: u32 = 6;

/// ID1 ID2 CM FLG MTIME(4) XFL OS: no flags, no time, OS unknown.
pub const HEADER: [u8; 10] = [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff];

type Job = (u64, Vec<u8>);
type Done = (u64, io::Result<(Vec<u8>, Crc)>);

/// A `Write` that gzips into `out`, compressing chunks on `threads` threads.
/// Call [`ParallelGz::finish`] to complete the stream.
pub struct ParallelGz<W: Write> {
    buf: Vec<u8>,
    workers: Option<Workers>,
    level: u32,
    sent: u64,
    /// For each cut, the number of chunks before it.
    cuts: Vec<u64>,
    sink: Sink<W>,
}

/// A finished gzip stream.
pub struct Finished<W> {
    pub out: W,
    /// Where each [`ParallelGz::cut`] fell: the offset, in the output, of
    /// the first byte after it.
    pub cuts: Vec<u64>,
}

/// Writes compressed chunks in order as they complete.
struct Sink<W> {
    out: W,
    crc: Crc,
    written: u64,
    pending: BTreeMap<u64, (Vec<u8>, Crc)>,
    /// The output offset after each chunk written.
    chunk_ends: Vec<u64>,
}

impl<W: Write> Sink<W> {
    fn accept(&mut self, index: u64, chunk: (Vec<u8>, Crc)) -> io::Result<()> {
        self.pending.insert(index, chunk);
        while let Some((data, crc)) = self.pending.remove(&self.written) {
            self.out.write_all(&data)?;
            self.crc.combine(&crc);
            self.written += 1;
            let end = self
                .chunk_ends
                .last()
                .copied()
                .unwrap_or(HEADER.len() as u64);
            self.chunk_ends.push(end + data.len() as u64);
        }
        Ok(())
    }

    /// The output offset after the first `chunks` chunks.
    fn offset_after(&self, chunks: u64) -> u64 {
        match chunks.checked_sub(1) {
            None => HEADER.len() as u64,
            Some(last) => self.chunk_ends[last as usize],
        }
    }
}

struct Workers {
    jobs: SyncSender<Job>,
    done: Receiver<Done>,
    handles: Vec<JoinHandle<()>>,
    max_in_flight: u64,
}

impl<W: Write> ParallelGz<W> {
    /// Starts a gzip stream at the bundles' [`LEVEL`]; `threads` of 0 or 1
    /// compresses on the calling thread (with identical output).
    pub fn new(out: W, threads: usize) -> io::Result<ParallelGz<W>> {
        ParallelGz::with_level(out, threads, LEVEL)
    }

    /// The same at deflate level `level` (0-9).
    pub fn with_level(mut out: W, threads: usize, level: u32) -> io::Result<ParallelGz<W>> {
        out.write_all(&HEADER)?;
        let workers = (threads > 1).then(|| Workers::start(threads, level));
        Ok(ParallelGz {
            buf: Vec::with_capacity(CHUNK_SIZE),
            workers,
            level,
            sent: 0,
            cuts: Vec::new(),
            sink: Sink {
                out,
                crc: Crc::new(),
                written: 0,
                pending: BTreeMap::new(),
                chunk_ends: Vec::new(),
            },
        })
    }

    /// Ends the current chunk here, even if it is short. Where the stream is
    /// cut depends only on where the caller cuts it, so output stays
    /// deterministic.
    pub fn cut(&mut self) -> io::Result<()> {
        if !self.buf.is_empty() {
            let chunk = std::mem::replace(&mut self.buf, Vec::with_capacity(CHUNK_SIZE));
            self.submit(chunk)?;
        }
        self.cuts.push(self.sent);
        Ok(())
    }

    /// Flushes the last chunk, writes the trailer and returns the writer,
    /// with where the cuts fell.
    pub fn finish(mut self) -> io::Result<Finished<W>> {
        if !self.buf.is_empty() {
            let chunk = std::mem::take(&mut self.buf);
            self.submit(chunk)?;
        }
        if let Some(workers) = self.workers.take() {
            let Workers {
                jobs,
                done,
                handles,
                ..
            } = workers;
            drop(jobs);
            while self.sink.written < self.sent {
                let (index, result) = done.recv().map_err(|_| worker_gone())?;
                self.sink.accept(index, result?)?;
            }
            for handle in handles {
                handle.join().map_err(|_| worker_gone())?;
            }
        }
        let mut sink = self.sink;
        let cuts = self.cuts.iter().map(|&k| sink.offset_after(k)).collect();
        let (last, _) = deflate(&[], FlushCompress::Finish, self.level)?;
        sink.out.write_all(&last)?;
        sink.out.write_all(&sink.crc.sum().to_le_bytes())?;
        sink.out.write_all(&sink.crc.amount().to_le_bytes())?;
        sink.out.flush()?;
        Ok(Finished {
            out: sink.out,
            cuts,
        })
    }

    fn submit(&mut self, chunk: Vec<u8>) -> io::Result<()> {
        let index = self.sent;
        self.sent += 1;
        match &self.workers {
            None => self.sink.accept(index, compress_chunk(&chunk, self.level)?),
            Some(workers) => {
                workers
                    .jobs
                    .send((index, chunk))
                    .map_err(|_| worker_gone())?;
                loop {
                    let in_flight = self.sent - self.sink.written;
                    let result = if in_flight > workers.max_in_flight {
                        workers.done.recv().map_err(|_| worker_gone())?
                    } else {
                        match workers.done.try_recv() {
                            Ok(result) => result,
                            Err(_) => return Ok(()),
                        }
                    };
                    self.sink.accept(result.0, result.1?)?;
                }
            }
        }
    }
}

impl<W: Write> Write for ParallelGz<W> {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        let room = CHUNK_SIZE - self.buf.len();
        let taken = room.min(data.len());
        self.buf.extend_from_slice(&data[..taken]);
        if self.buf.len() == CHUNK_SIZE {
            let chunk = std::mem::replace(&mut self.buf, Vec::with_capacity(CHUNK_SIZE));
            self.submit(chunk)?;
        }
        Ok(taken)
    }

    fn flush(&mut self) -> io::Result<()> {
        // Chunks are cut at fixed sizes only, so that output stays
        // deterministic; flushing only flushes what is already compressed.
        self.sink.out.flush()
    }
}

impl Workers {
    fn start(threads: usize, level: u32) -> Workers {
        let (jobs, job_rx) = mpsc::sync_channel::<Job>(threads * 2);
        let (done_tx, done) = mpsc::channel::<Done>();
        let job_rx = Arc::new(Mutex::new(job_rx));
        let handles = (0..threads)
            .map(|_| {
                let job_rx = Arc::clone(&job_rx);
                let done_tx = done_tx.clone();
                std::thread::spawn(move || {
                    loop {
                        let job = match job_rx.lock() {
                            Ok(rx) => rx.recv(),
                            Err(_) => return,
                        };
                        let Ok((index, chunk)) = job else { return };
                        if done_tx
                            .send((index, compress_chunk(&chunk, level)))
                            .is_err()
                        {
                            return;
                        }
                    }
                })
            })
            .collect();
        Workers {
            jobs,
            done,
            handles,
            max_in_flight: threads as u64 * 4,
        }
    }
}

fn worker_gone() -> io::Error {
    io::Error::other("a compression thread stopped unexpectedly")
}

fn compress_chunk(chunk: &[u8], level: u32) -> io::Result<(Vec<u8>, Crc)> {
    let mut crc = Crc::new();
    crc.update(chunk);
    let (data, _) = deflate(chunk, FlushCompress::Sync, level)?;
    Ok((data, crc))
}

/// Raw deflate of `input` with a fresh compressor, ending with `flush`.
fn deflate(input: &[u8], flush: FlushCompress, level: u32) -> io::Result<(Vec<u8>, u64)> {
    let mut compress = Compress::new(Compression::new(level), false);
    let mut out = Vec::with_capacity(input.len() / 2 + 4096);
    loop {
        if out.len() == out.capacity() {
            out.reserve(64 * 1024);
        }
        let consumed = compress.total_in() as usize;
        compress
            .compress_vec(&input[consumed..], &mut out, flush)
            .map_err(io::Error::other)?;
        if compress.total_in() as usize == input.len() && out.len() < out.capacity() {
            return Ok((out, compress.total_in()));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    fn gz(data: &[u8], threads: usize) -> Vec<u8> {
        let mut writer = ParallelGz::new(Vec::new(), threads).unwrap();
        writer.write_all(data).unwrap();
        writer.finish().unwrap().out
    }

    fn sample(len: usize) -> Vec<u8> {
        let mut state: u32 = 7;
        (0..len)
            .map(|i| {
                state = state.wrapping_mul(1_103_515_245).wrapping_add(12_345);
                if i % 3 == 0 {
                    (state >> 24) as u8
                } else {
                    b"cookbook "[i % 9]
                }
            })
            .collect()
    }

    #[test]
    fn round_trips_as_a_single_member_and_is_thread_independent() {
        for len in [0, 1, CHUNK_SIZE - 1, CHUNK_SIZE, 3 * CHUNK_SIZE + 17] {
            let data = sample(len);
            let one = gz(&data, 1);
            assert_eq!(one, gz(&data, 4), "len {len}");
            let mut back = Vec::new();
            // GzDecoder reads only the first member: one member holds all.
            flate2::read::GzDecoder::new(&one[..])
                .read_to_end(&mut back)
                .unwrap();
            assert_eq!(back, data, "len {len}");
        }
    }

    #[test]
    fn a_cut_starts_a_chunk_that_inflates_on_its_own() {
        let (head, tail) = (sample(CHUNK_SIZE + 300), sample(5000));
        let mut writer = ParallelGz::new(Vec::new(), 2).unwrap();
        writer.write_all(&head).unwrap();
        writer.cut().unwrap();
        writer.cut().unwrap();
        writer.write_all(&tail).unwrap();
        let Finished { out: whole, cuts } = writer.finish().unwrap();
        let mut back = Vec::new();
        flate2::read::GzDecoder::new(&whole[..])
            .read_to_end(&mut back)
            .unwrap();
        assert_eq!(back, [head.clone(), tail.clone()].concat());
        // The tail's chunk is the whole body after the head's two chunks.
        let first = deflate(&head[..CHUNK_SIZE], FlushCompress::Sync, LEVEL)
            .unwrap()
            .0;
        let second = deflate(&head[CHUNK_SIZE..], FlushCompress::Sync, LEVEL)
            .unwrap()
            .0;
        let start = HEADER.len() + first.len() + second.len();
        // Both cuts fell there (the second added no chunk).
        assert_eq!(cuts, [start as u64, start as u64]);
        let mut inflater = flate2::Decompress::new(false);
        let mut out = Vec::with_capacity(tail.len() + 64);
        inflater
            .decompress_vec(&whole[start..], &mut out, flate2::FlushDecompress::None)
            .unwrap();
        assert_eq!(out, tail);
    }

    #[test]
    fn a_cut_at_the_end_of_a_full_chunk_falls_after_it() {
        let data = sample(CHUNK_SIZE);
        let mut writer = ParallelGz::new(Vec::new(), 1).unwrap();
        writer.cut().unwrap();
        writer.write_all(&data).unwrap();
        writer.cut().unwrap();
        let Finished { out, cuts } = writer.finish().unwrap();
        let chunk = deflate(&data, FlushCompress::Sync, LEVEL).unwrap().0;
        let start = HEADER.len() as u64;
        assert_eq!(cuts, [start, start + chunk.len() as u64]);
        assert_eq!(out[start as usize..][..chunk.len()], chunk[..]);
    }

    #[test]
    fn header_matches_gzbuilder_without_time_or_name() {
        let mut reference = flate2::GzBuilder::new()
            .mtime(0)
            .write(Vec::new(), Compression::new(LEVEL));
        reference.write_all(b"x").unwrap();
        let reference = reference.finish().unwrap();
        assert_eq!(&gz(b"x", 1)[..10], &reference[..10]);
    }
}
