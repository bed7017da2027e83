import CSystemd

#if canImport(Glibc)
    import Glibc
#endif

/// The systemd journal (`sd_journal_sendv`).
///
/// Without journald the messages are dropped silently,
/// as libsystemd does.
public enum Journal {
    /// Sends one entry made of `fields` (`KEY=value`; values may hold any bytes, newlines included).
    @discardableResult
    public static func send(_ fields: [[UInt8]]) -> Int32 {
        var storage = fields
        var vectors: [iovec] = []
        vectors.reserveCapacity(storage.count)
        return storage.withUnsafeMutableBufferPointer { buffers in
            for index in buffers.indices {
                buffers[index].withUnsafeMutableBytes { raw in
                    vectors.append(iovec(iov_base: raw.baseAddress, iov_len: raw.count))
                }
            }
            // The arrays in `storage` stay alive and unmoved until the call returns.
            return sd_journal_sendv(vectors, Int32(vectors.count))
        }
    }
}
