using Microsoft.Extensions.Time.Testing;
using UnifiedLlm.Daemon.Polling;

namespace UnifiedLlm.Tests.Polling;

/// <summary>The poll schedule the RPC worker monitor and the peer directory share, on a fake clock.</summary>
public sealed class PollScheduleTests
{
    private static readonly DateTimeOffset Start = new(2026, 1, 1, 0, 0, 0, TimeSpan.Zero);

    [Fact]
    public void Each_name_is_due_when_it_appears_then_once_per_interval_of_its_own()
    {
        var schedule = new PollSchedule(TimeProvider.System, TimeSpan.FromSeconds(5));
        var polled = Intervals(("fast", 1), ("slow", 3));

        Assert.Equal(["fast", "slow"], schedule.Take(polled, Start).Due);
        Assert.Empty(schedule.Take(polled, Start.AddSeconds(0.5)).Due);
        Assert.Equal(["fast"], schedule.Take(polled, Start.AddSeconds(1)).Due);
        Assert.Equal(["fast"], schedule.Take(polled, Start.AddSeconds(2)).Due);
        Assert.Equal(["fast", "slow"], schedule.Take(polled, Start.AddSeconds(3)).Due);
        Assert.Equal(TimeSpan.FromSeconds(1), schedule.Wait(polled));
    }

    [Fact]
    public void A_name_that_leaves_is_forgotten_and_read_at_once_when_it_comes_back_or_its_interval_shrinks()
    {
        var schedule = new PollSchedule(TimeProvider.System, TimeSpan.FromSeconds(5));
        schedule.Take(Intervals(("a", 10), ("b", 10)), Start);

        var (due, gone) = schedule.Take(Intervals(("a", 10)), Start.AddSeconds(1));
        Assert.Empty(due);
        Assert.Equal(["b"], gone);

        Assert.Equal(["b"], schedule.Take(Intervals(("a", 10), ("b", 10)), Start.AddSeconds(2)).Due);
        // a's next read was 9 s away; at an interval of 2 s that is too far.
        Assert.Equal(["a"], schedule.Take(Intervals(("a", 2), ("b", 10)), Start.AddSeconds(3)).Due);
        Assert.Equal(TimeSpan.FromSeconds(5), schedule.Wait(Intervals()));
    }

    [Fact]
    public async Task The_loop_reads_what_is_due_tells_of_what_left_and_stops_when_cancelled()
    {
        var time = new FakeTimeProvider(Start);
        var schedule = new PollSchedule(time, TimeSpan.FromSeconds(5));
        var polled = Intervals(("a", 1), ("b", 1));
        var reads = new List<(string Name, DateTimeOffset At)>();
        var forgotten = new List<string>();
        using var stop = new CancellationTokenSource();
        var loop = schedule.RunAsync(
            () => Volatile.Read(ref polled),
            (name, _) =>
            {
                lock (reads)
                {
                    reads.Add((name, time.GetUtcNow()));
                }

                return Task.CompletedTask;
            },
            name =>
            {
                lock (forgotten)
                {
                    forgotten.Add(name);
                }
            },
            stop.Token);

        // The first pass reads both at once; b then leaves, and the clock moves on until a pass has noticed.
        lock (reads)
        {
            Assert.Equal([("a", Start), ("b", Start)], reads);
        }

        Volatile.Write(ref polled, Intervals(("a", 1)));
        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (true)
        {
            lock (forgotten)
            {
                if (forgotten.Count > 0)
                {
                    break;
                }
            }

            Assert.True(DateTime.UtcNow < deadline, "no pass noticed within 10 s that b left");
            time.Advance(TimeSpan.FromSeconds(1));
            await Task.Delay(20, TestContext.Current.CancellationToken);
        }

        await stop.CancelAsync();
        await loop.WaitAsync(TimeSpan.FromSeconds(10), TestContext.Current.CancellationToken);
        Assert.Equal(["b"], forgotten);
        lock (reads)
        {
            Assert.Equal(["a", "b"], reads.Where(r => r.At == Start).Select(r => r.Name));
            Assert.All(reads.Skip(2), r => Assert.Equal("a", r.Name));
            Assert.Contains(reads, r => r.At > Start);
        }
    }

    private static Dictionary<string, TimeSpan> Intervals(params (string Name, double Seconds)[] entries) =>
        entries.ToDictionary(e => e.Name, e => TimeSpan.FromSeconds(e.Seconds), StringComparer.Ordinal);
}
