using UnifiedLlm.Daemon.Backends;

namespace UnifiedLlm.Tests.Backends;

public sealed class ReadinessPollingTests
{
    [Theory]
    [InlineData(0, 5)]
    [InlineData(1_000, 5)]
    [InlineData(2_000, 10)]
    [InlineData(5_000, 25)]
    [InlineData(10_000, 50)]
    [InlineData(600_000, 50)]
    public void Pause_is_a_two_hundredth_of_the_load_so_far_between_5_and_50_ms(int loadingMs, double pauseMs)
    {
        Assert.Equal(TimeSpan.FromMilliseconds(pauseMs), ReadinessPolling.After(TimeSpan.FromMilliseconds(loadingMs)));
    }
}
