using UnifiedLlm.Daemon.Scheduling.Planning;
using UnifiedLlm.Tests.Support;

namespace UnifiedLlm.Tests.Planning;

public sealed class HostMemoryTests : IDisposable
{
    private readonly TempDirectory dir = new("ullm-meminfo");

    public void Dispose() => dir.Dispose();

    [Fact]
    public async Task Reads_mem_available_in_bytes()
    {
        var path = dir.Write("meminfo", "MemTotal:       16309164 kB\nMemFree:         1046460 kB\nMemAvailable:    9921088 kB\nBuffers:          403864 kB\n");

        Assert.Equal(9921088UL * 1024, await HostMemory.AvailableBytesAsync(CancellationToken.None, path));
    }

    [Fact]
    public async Task This_machines_proc_meminfo_is_readable_and_plausible()
    {
        var available = await HostMemory.AvailableBytesAsync(CancellationToken.None);

        Assert.InRange(available, 1UL << 20, 1UL << 50);
    }

    [Theory]
    [InlineData("MemTotal: 1 kB\n", "has no MemAvailable line")]
    [InlineData("MemAvailable: lots kB\n", ":1: expected \"MemAvailable: <n> kB\", got \"MemAvailable: lots kB\"")]
    [InlineData("MemAvailable: 12 MB\n", "got \"MemAvailable: 12 MB\"")]
    public async Task A_malformed_file_is_an_error_naming_the_file_and_line(string contents, string message)
    {
        var path = dir.Write("meminfo", contents);

        var error = await Assert.ThrowsAsync<InvalidDataException>(() => HostMemory.AvailableBytesAsync(CancellationToken.None, path));

        Assert.StartsWith(path, error.Message);
        Assert.Contains(message, error.Message);
    }
}
