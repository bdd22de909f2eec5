//! Vectored socket writes: a frame's encoded preamble and header plus its body parts (store
//! buffers) leave in one `sendmsg` call, without first being concatenated in user space.
//!
//! glommio 0.9's `TcpStream` has no vectored write, so this writes on the raw descriptor.
//! glommio accepts sockets in *blocking* mode (its `accept` does not set `O_NONBLOCK`; it sends
//! with `MSG_DONTWAIT` itself), so a plain `writev` could block the whole executor on a full
//! send buffer. `sendmsg` with `MSG_DONTWAIT` never blocks whatever the descriptor's mode is,
//! and `MSG_NOSIGNAL` turns a peer reset into an error instead of SIGPIPE.
//!
//! When the kernel takes only part of the data (short write) or none (`EAGAIN`), the rest of
//! the current part is finished through the async write path (glommio waits for the socket to
//! become writable; it too sends from our buffer, no copy), then vectored sends resume for the
//! parts after it. Adjacent parts that are contiguous in memory (consecutive records of one
//! CommitLog buffer) are merged into one `iovec`; one call carries at most
//! [`SEND_IOVECS_COUNT_MAX`] entries (the kernel's `UIO_MAXIOV`).
//!
//! Invariants: the caller's writer is the only other writer of the socket and is idle while
//! this runs (one writer task per connection), so bytes leave in order; the descriptor stays
//! open for the call because the caller holds the stream's write half.

use std::io;
use std::os::unix::io::RawFd;

use futures_lite::io::AsyncWriteExt;

/// Most `iovec` entries passed to one `sendmsg` (Linux `UIO_MAXIOV`; more gives `EINVAL`).
pub const SEND_IOVECS_COUNT_MAX: usize = 1024;

const _: () = assert!(SEND_IOVECS_COUNT_MAX as libc::c_int <= libc::UIO_MAXIOV);

/// Where the next unsent byte is: part index and offset inside it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Cursor {
    part: usize,
    offset: usize,
}

/// Write every byte of `parts`, in order, to the socket `fd` (whose async write half is
/// `writer`).
pub async fn write_all_vectored<W: futures_lite::AsyncWrite + Unpin>(
    fd: RawFd,
    writer: &mut W,
    parts: &[&[u8]],
) -> io::Result<()> {
    let mut at = skip_empty(parts, Cursor { part: 0, offset: 0 });
    let mut iovecs: Vec<libc::iovec> = Vec::with_capacity(parts.len().min(SEND_IOVECS_COUNT_MAX));
    while at.part < parts.len() {
        let planned = fill_iovecs(parts, at, &mut iovecs);
        match send_iovecs(fd, &iovecs) {
            Ok(sent) if sent == planned => {
                at = advance(parts, at, sent);
                continue;
            }
            Ok(sent) => at = advance(parts, at, sent),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
        // The send buffer is full: finish the current part through the async path, which
        // waits for room, then try vectored sends again.
        if at.part < parts.len() {
            writer.write_all(&parts[at.part][at.offset..]).await?;
            at = skip_empty(
                parts,
                Cursor {
                    part: at.part + 1,
                    offset: 0,
                },
            );
        }
    }
    writer.flush().await
}

/// Fill `iovecs` with the bytes from `at` on, merging parts contiguous in memory, up to
/// [`SEND_IOVECS_COUNT_MAX`] entries. Returns the bytes they cover.
fn fill_iovecs(parts: &[&[u8]], at: Cursor, iovecs: &mut Vec<libc::iovec>) -> usize {
    iovecs.clear();
    let mut total = 0usize;
    for (i, part) in parts.iter().enumerate().skip(at.part) {
        let bytes = if i == at.part {
            &part[at.offset..]
        } else {
            *part
        };
        if bytes.is_empty() {
            continue;
        }
        if let Some(last) = iovecs.last_mut() {
            // Both ranges are alive (borrowed for this call) and adjacent, so one entry
            // covering both describes exactly the same bytes.
            if (last.iov_base as usize).checked_add(last.iov_len) == Some(bytes.as_ptr() as usize) {
                last.iov_len += bytes.len();
                total += bytes.len();
                continue;
            }
        }
        if iovecs.len() == SEND_IOVECS_COUNT_MAX {
            break;
        }
        iovecs.push(libc::iovec {
            iov_base: bytes.as_ptr() as *mut libc::c_void,
            iov_len: bytes.len(),
        });
        total += bytes.len();
    }
    total
}

/// The cursor `n` bytes after `at`, past any empty parts.
fn advance(parts: &[&[u8]], mut at: Cursor, mut n: usize) -> Cursor {
    while n > 0 && at.part < parts.len() {
        let left = parts[at.part].len() - at.offset;
        if n < left {
            at.offset += n;
            return at;
        }
        n -= left;
        at = Cursor {
            part: at.part + 1,
            offset: 0,
        };
    }
    skip_empty(parts, at)
}

/// Move past parts with nothing left to send.
fn skip_empty(parts: &[&[u8]], mut at: Cursor) -> Cursor {
    while at.part < parts.len() && at.offset >= parts[at.part].len() {
        at = Cursor {
            part: at.part + 1,
            offset: 0,
        };
    }
    at
}

/// One non-blocking `sendmsg` of `iovecs`.
fn send_iovecs(fd: RawFd, iovecs: &[libc::iovec]) -> io::Result<usize> {
    // SAFETY: an all-zero msghdr is valid (no address, no control data); we then point it at
    // `iovecs`, which outlives the call and whose entries each describe live, readable memory
    // borrowed by the caller. The kernel only reads through these pointers.
    let sent = unsafe {
        let mut msg: libc::msghdr = std::mem::zeroed();
        msg.msg_iov = iovecs.as_ptr().cast_mut();
        // At most SEND_IOVECS_COUNT_MAX (1024), which fits every msg_iovlen type.
        msg.msg_iovlen = iovecs.len() as _;
        libc::sendmsg(fd, &msg, libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL)
    };
    // A negative return is the error flag; anything else is a byte count.
    usize::try_from(sent).map_err(|_| io::Error::last_os_error())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn contiguous_parts_merge_into_one_iovec() {
        let buf = b"0123456789".to_vec();
        let other = b"xyz".to_vec();
        let parts: Vec<&[u8]> = vec![&buf[0..3], &buf[3..7], &[], &buf[7..10], &other];
        let mut iovecs = Vec::new();
        let total = fill_iovecs(&parts, Cursor { part: 0, offset: 0 }, &mut iovecs);
        assert_eq!(total, 13);
        assert_eq!(iovecs.len(), 2);
        assert_eq!(iovecs[0].iov_len, 10);
        assert_eq!(iovecs[1].iov_len, 3);
        // From the middle of a part.
        let total = fill_iovecs(&parts, Cursor { part: 1, offset: 2 }, &mut iovecs);
        assert_eq!(total, 8);
        assert_eq!(iovecs[0].iov_base as usize, buf[5..].as_ptr() as usize);
    }

    #[test]
    fn one_call_covers_at_most_the_iovec_limit() {
        let owned: Vec<Vec<u8>> = (0..SEND_IOVECS_COUNT_MAX + 5)
            .map(|_| vec![7u8; 3])
            .collect();
        let parts: Vec<&[u8]> = owned.iter().map(Vec::as_slice).collect();
        let mut iovecs = Vec::new();
        let total = fill_iovecs(&parts, Cursor { part: 0, offset: 0 }, &mut iovecs);
        // Separate allocations may happen to be adjacent, so only the bounds are certain.
        assert!(iovecs.len() <= SEND_IOVECS_COUNT_MAX);
        assert_eq!(total, iovecs.iter().map(|v| v.iov_len).sum::<usize>());
    }

    #[test]
    fn advance_walks_across_parts_and_skips_empty_ones() {
        let parts: Vec<&[u8]> = vec![b"abc", b"", b"de", b"f"];
        let start = Cursor { part: 0, offset: 0 };
        assert_eq!(advance(&parts, start, 2), Cursor { part: 0, offset: 2 });
        assert_eq!(advance(&parts, start, 3), Cursor { part: 2, offset: 0 });
        assert_eq!(advance(&parts, start, 4), Cursor { part: 2, offset: 1 });
        assert_eq!(advance(&parts, start, 6), Cursor { part: 4, offset: 0 });
        assert_eq!(
            skip_empty(&[b"" as &[u8]], start),
            Cursor { part: 1, offset: 0 }
        );
    }

    /// A large frame through a small send buffer and a reader that starts late: the kernel
    /// takes it in pieces, so the short-write and EAGAIN paths run; the bytes arrive whole and
    /// in order.
    #[test]
    fn a_frame_larger_than_the_send_buffer_arrives_intact() {
        use std::io::Read;
        use std::os::unix::io::AsRawFd;

        let parts_owned: Vec<Vec<u8>> = (0..300u32)
            .map(|i| (0..4096u32).map(|j| ((i * 31 + j) % 251) as u8).collect())
            .collect();
        let expected: Vec<u8> = parts_owned.concat();
        let total = expected.len();
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let reader = std::thread::spawn(move || {
            let (mut s, _) = listener.accept().unwrap();
            // Let the writer fill the socket buffers first.
            std::thread::sleep(std::time::Duration::from_millis(200));
            let mut got = vec![0u8; total];
            s.read_exact(&mut got).unwrap();
            got
        });
        let ex = glommio::LocalExecutorBuilder::new(glommio::Placement::Unbound)
            .make()
            .unwrap();
        ex.run(async move {
            let stream = glommio::net::TcpStream::connect(addr).await.unwrap();
            let fd = stream.as_raw_fd();
            let small: libc::c_int = 4096;
            // SAFETY: fd is the live socket; the option value is a valid c_int of the size given.
            unsafe {
                libc::setsockopt(
                    fd,
                    libc::SOL_SOCKET,
                    libc::SO_SNDBUF,
                    std::ptr::addr_of!(small).cast(),
                    std::mem::size_of::<libc::c_int>() as libc::socklen_t,
                );
            }
            let (_r, mut w) = futures_lite::io::split(stream);
            let parts: Vec<&[u8]> = parts_owned.iter().map(Vec::as_slice).collect();
            write_all_vectored(fd, &mut w, &parts).await.unwrap();
        });
        assert_eq!(reader.join().unwrap(), expected);
    }
}
