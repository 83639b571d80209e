namespace UnifiedLlm.Bench.MemoryAccuracy;

/// <summary>A process's resident memory from /proc/PID/status (VmRSS now, VmHWM its peak).</summary>
internal sealed record ProcessMemory(ulong ResidentBytes, ulong PeakResidentBytes)
{
    public static ProcessMemory Read(int pid)
    {
        ulong Field(string[] lines, string name) =>
            ulong.Parse(lines.Single(l => l.StartsWith(name + ":", StringComparison.Ordinal))[(name.Length + 1)..].Trim().Split(' ')[0], System.Globalization.CultureInfo.InvariantCulture) * 1024;
        var status = File.ReadAllLines($"/proc/{pid}/status");
        return new ProcessMemory(Field(status, "VmRSS"), Field(status, "VmHWM"));
    }
}
