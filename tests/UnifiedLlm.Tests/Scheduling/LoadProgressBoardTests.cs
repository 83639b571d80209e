using UnifiedLlm.Daemon.Scheduling;

namespace UnifiedLlm.Tests.Scheduling;

/// <summary>The board the scheduler reports load stages to, and <c>ullmctl load</c> and the loading notice watch.</summary>
public sealed class LoadProgressBoardTests
{
    [Fact]
    public void A_watcher_gets_the_stage_the_load_is_at_then_every_later_one_of_its_model_only()
    {
        var board = new LoadProgressBoard();
        board.Queued("a");
        board.Report("a", LoadStage.Planning, "sizing a");
        using var watch = board.Watch("a");
        board.Report("b", LoadStage.Planning, "sizing b");
        board.Report("a", LoadStage.StartingUnit, "GPU0", "ullm-a-1.service");

        Assert.True(watch.Steps.TryRead(out var first));
        Assert.Equal(new LoadStep("a", LoadStage.Planning, "sizing a"), first);
        Assert.True(watch.Steps.TryRead(out var second));
        Assert.Equal(new LoadStep("a", LoadStage.StartingUnit, "GPU0", "ullm-a-1.service"), second);
        Assert.False(watch.Steps.TryRead(out _));
    }

    [Fact]
    public void Queued_names_the_loads_that_began_before_and_have_not_ended()
    {
        var board = new LoadProgressBoard();
        using var watch = board.Watch("c");
        board.Queued("a");
        board.Queued("b");
        board.Ended("a");
        board.Queued("c");

        Assert.True(watch.Steps.TryRead(out var queued));
        Assert.Equal("1 load(s) ahead: b", queued.Detail);
        board.Ended("b");
        board.Ended("c");
        board.Queued("c");
        Assert.True(watch.Steps.TryRead(out var again));
        Assert.Equal("next to load", again.Detail);
    }

    [Fact]
    public void A_watcher_that_does_not_read_keeps_only_the_latest_steps_and_a_disposed_one_gets_nothing()
    {
        var board = new LoadProgressBoard();
        var slow = board.Watch("a");
        for (var i = 0; i < LoadProgressBoard.WatcherCapacity + 10; i++)
        {
            board.Report("a", LoadStage.LoadingWeights, i.ToString(System.Globalization.CultureInfo.InvariantCulture));
        }

        Assert.Equal(LoadProgressBoard.WatcherCapacity, slow.Steps.Count);
        Assert.True(slow.Steps.TryRead(out var oldest));
        Assert.Equal("10", oldest.Detail);
        slow.Dispose();
        board.Report("a", LoadStage.LoadingWeights, "after");
        Assert.Equal(LoadProgressBoard.WatcherCapacity - 1, slow.Steps.Count);
    }
}
