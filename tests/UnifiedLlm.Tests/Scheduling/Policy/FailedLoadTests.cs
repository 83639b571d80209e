using CsCheck;
using UnifiedLlm.Daemon.Scheduling;
using UnifiedLlm.Daemon.Scheduling.Policy;

namespace UnifiedLlm.Tests.Scheduling.Policy;

/// <summary>Which failed loads count towards a model's backoff, and what the failure event says, from plain values.</summary>
public sealed class FailedLoadTests
{
    private static readonly DateTimeOffset T0 = new(2026, 12, 6, 12, 0, 0, TimeSpan.Zero);

    private static readonly SchedulerOptions Options = new() { BackoffFirst = TimeSpan.FromSeconds(1), BackoffCap = TimeSpan.FromSeconds(4) };

    private const string Reason = "a failed to load: llama-server exited before it was ready: exit-code 1 (bad magic)";

    [Theory]
    [InlineData("Backend", "LoadFailed", 0, 1, Reason)]
    [InlineData("Backend", "LoadFailed", 1, 2, Reason + "; loads on demand back off until 12:00:01 UTC after 2 failures")]
    [InlineData("Backend", "LoadFailed", 3, 4, Reason + "; loads on demand back off until 12:00:04 UTC after 4 failures")]
    [InlineData("Backend", "LoadFailed", 9, 10, Reason + "; loads on demand back off until 12:00:04 UTC after 10 failures")]
    [InlineData("Backend", "ShuttingDown", 1, 1, Reason)]
    [InlineData("Download", "LoadFailed", 0, 1, Reason)]
    [InlineData("Download", "LoadFailed", 3, 4, Reason)]
    [InlineData("Download", "ShuttingDown", 1, 1, Reason)]
    [InlineData("BeforeBackend", "DoesNotFit", 1, 1, Reason)]
    [InlineData("BeforeBackend", "LoadFailed", 1, 1, Reason)]
    public void A_backend_that_failed_to_start_or_a_failed_download_counts_and_only_a_backends_failure_says_until_when_loads_back_off(
        string stage, string kind, int failuresBefore, int failuresAfter, string published)
    {
        var before = Enumerable.Range(0, failuresBefore).Aggregate(LoadBackoff.None, (b, i) => b.Failed(T0.AddSeconds(-60 + i), "earlier", Options));

        var verdict = FailedLoad.Decide(before, Enum.Parse<LoadFailureStage>(stage), new LeaseFailure(Enum.Parse<LeaseFailureKind>(kind), "a", Reason), T0, Options);

        Assert.Equal(published, verdict.Published);
        Assert.Equal(failuresAfter, verdict.Backoff.Failures);
        Assert.Equal(failuresAfter == failuresBefore ? before : before.Failed(T0, Reason, Options), verdict.Backoff);
    }

    [Fact]
    public void The_first_failure_holds_nothing_the_second_waits_the_first_backoff_and_each_further_one_doubles_it_up_to_the_cap()
    {
        Gen.Select(Gen.Int[2, 40], Gen.Int[1, 600_000], Gen.Int[1, 3_600_000]).Sample((failures, firstMs, capMs) =>
        {
            var options = new SchedulerOptions { BackoffFirst = TimeSpan.FromMilliseconds(firstMs), BackoffCap = TimeSpan.FromMilliseconds(capMs) };
            var backoff = LoadBackoff.None.Failed(T0, "bad magic", options);
            Assert.Null(backoff.Until);

            var expected = options.BackoffFirst < options.BackoffCap ? options.BackoffFirst : options.BackoffCap;
            for (var failure = 2; failure <= failures; failure++)
            {
                var at = T0.AddMinutes(failure);
                backoff = backoff.Failed(at, "bad magic", options);
                Assert.Equal(failure, backoff.Failures);
                Assert.Equal(at + expected, backoff.Until);
                expected = expected * 2 < options.BackoffCap ? expected * 2 : options.BackoffCap;
            }
        });
    }
}
