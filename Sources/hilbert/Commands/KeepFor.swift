import Glibc
import HilbertSupport

/// How long `hilbert warmup` keeps what it brings in ahead of other read copies
/// (CacheDirectory.keep). `--keep-for` takes seconds or a number with s, m, h or d; 0 keeps
/// nothing longer than least-recently-used would. Unset: inside a Slurm job, until the job's
/// end time (SLURM_JOB_END_TIME, else `squeue -h -j $SLURM_JOB_ID -o %e`), since that is how
/// long the job that asked for the data may read it; elsewhere, or when Slurm does not say, 24
/// hours.
enum KeepFor {
    static let defaultSeconds = 24 * 3600

    /// The time (seconds since the epoch) copies are kept until, or nil for none.
    static func until(_ text: String?, now: Int = time(nil)) throws -> Int? {
        if let text {
            guard let s = seconds(text) else {
                throw CLIError("--keep-for '\(text)': not a duration (seconds, or a number with s, m, h or d, e.g. 6h; 0 keeps nothing)")
            }
            return s == 0 ? nil : now + s
        }
        if let end = slurmJobEnd(), end > now { return end }
        return now + defaultSeconds
    }

    static func seconds(_ text: String) -> Int? {
        var t = Substring(text.trimmingSpaces.lowercased())
        var unit = 1
        if let last = t.last, let u = ["s": 1, "m": 60, "h": 3600, "d": 86400][String(last)] {
            unit = u
            t = t.dropLast()
        }
        guard !t.isEmpty, t.allSatisfy({ $0.isNumber }), let n = Int(t), n <= 365 * 86400 else { return nil }
        return n * unit
    }

    /// The running Slurm job's end time, or nil.
    static func slurmJobEnd() -> Int? {
        if let e = getEnv("SLURM_JOB_END_TIME"), let n = Int(e), n > 0 { return n }
        guard let id = getEnv("SLURM_JOB_ID"), !id.isEmpty, id.allSatisfy({ $0.isNumber || $0 == "_" }) else { return nil }
        guard let p = popen("squeue -h -j \(id) -o %e 2>/dev/null", "r") else { return nil }
        var buf = [CChar](repeating: 0, count: 128)
        let line = fgets(&buf, Int32(buf.count), p) != nil ? String(cString: buf).trimmingSpaces : ""
        pclose(p)
        // "2026-12-07T15:00:00", local time
        let parts = line.split(whereSeparator: { $0 == "-" || $0 == "T" || $0 == ":" }).compactMap { Int32($0) }
        guard parts.count == 6 else { return nil }
        var tmv = tm()
        tmv.tm_year = parts[0] - 1900; tmv.tm_mon = parts[1] - 1; tmv.tm_mday = parts[2]
        tmv.tm_hour = parts[3]; tmv.tm_min = parts[4]; tmv.tm_sec = parts[5]
        tmv.tm_isdst = -1
        let t = mktime(&tmv)
        return t > 0 ? Int(t) : nil
    }
}
