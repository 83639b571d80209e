namespace UnifiedLlm.Daemon.Gpu;

/// <summary>
/// Finds how many bytes a driver wrote per process-info entry. Some R535 drivers write 32-byte entries through
/// nvmlDeviceGetComputeRunningProcesses_v3 where the header says 24, so the size is measured, not assumed: the buffer
/// is pre-filled with <see cref="FillPattern"/> and the last byte the driver changed marks the end of what it wrote.
/// Every known layout keeps the PID at offset 0 and the used bytes at offset 8.
/// </summary>
internal static class ProcessEntryLayout
{
    public const byte FillPattern = 0xA5;

    public const int LargestEntryBytes = 32;

    public const int PidOffset = 0;

    public const int UsedMemoryOffset = 8;

    /// <summary>Entry sizes each symbol may write, smallest first.</summary>
    public static int[] CandidateSizes(string symbol) => symbol switch
    {
        "nvmlDeviceGetComputeRunningProcesses_v3" => [24, 32],
        "nvmlDeviceGetComputeRunningProcesses_v2" => [24],
        _ => [16],
    };

    /// <summary>The smallest candidate size that accounts for every byte written for <paramref name="count"/> entries.</summary>
    public static int DetectEntryBytes(ReadOnlySpan<byte> buffer, int count, ReadOnlySpan<int> candidates, string symbol)
    {
        if (count == 0)
        {
            return candidates[0];
        }

        var written = buffer.LastIndexOfAnyExcept(FillPattern) + 1;
        foreach (var size in candidates)
        {
            if (written <= count * size)
            {
                return size;
            }
        }

        throw new InvalidDataException(
            $"{symbol} wrote {written} bytes for {count} processes, more than {candidates[^1]} bytes per entry: this driver's process-info layout is unknown");
    }
}
