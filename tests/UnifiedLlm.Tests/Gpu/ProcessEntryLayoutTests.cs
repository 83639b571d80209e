using UnifiedLlm.Daemon.Gpu;

namespace UnifiedLlm.Tests.Gpu;

public sealed class ProcessEntryLayoutTests
{
    [Fact]
    public void More_bytes_than_the_largest_known_entry_is_a_clear_error()
    {
        var buffer = new byte[128];
        buffer.AsSpan().Fill(ProcessEntryLayout.FillPattern);
        buffer.AsSpan(0, 80).Clear(); // two entries of 40 bytes: no known layout

        var error = Assert.Throws<InvalidDataException>(
            () => ProcessEntryLayout.DetectEntryBytes(buffer, 2, [24, 32], "nvmlDeviceGetComputeRunningProcesses_v3"));

        Assert.Equal(
            "nvmlDeviceGetComputeRunningProcesses_v3 wrote 80 bytes for 2 processes, more than 32 bytes per entry: this driver's process-info layout is unknown",
            error.Message);
    }
}
