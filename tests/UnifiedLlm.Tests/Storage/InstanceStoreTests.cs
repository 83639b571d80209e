using Microsoft.Extensions.Time.Testing;
using UnifiedLlm.Daemon.Scheduling;
using UnifiedLlm.Daemon.Storage;
using UnifiedLlm.Tests.Support;

namespace UnifiedLlm.Tests.Storage;

public sealed class InstanceStoreTests : IAsyncLifetime
{
    private readonly TempDirectory dir = new();
    private readonly FakeTimeProvider time = new(new DateTimeOffset(2026, 11, 24, 12, 0, 0, TimeSpan.Zero));
    private InstanceStore store = null!;

    public async ValueTask InitializeAsync() =>
        store = new InstanceStore(await Database.OpenAsync(dir.File("ullm.db"), CancellationToken.None), time);

    public ValueTask DisposeAsync()
    {
        dir.Dispose();
        return ValueTask.CompletedTask;
    }

    private InstanceRecord Planned(string id, string model = "tiny") => new()
    {
        Id = id,
        Model = model,
        Backend = "llama.cpp",
        Unit = $"ullm-{model}-{id}.service",
        State = InstanceState.Planned,
        StateSince = time.GetUtcNow(),
        CreatedAt = time.GetUtcNow(),
        Gpus = [0, 2],
        GpuLayers = 33,
        Context = 4096,
        EstimatedBytes = 5_000_000_000,
        PlanJson = "{\"basis\":\"estimate\"}",
    };

    [Fact]
    public async Task An_inserted_instance_reads_back_field_for_field_with_its_first_transition()
    {
        var planned = Planned("a1");
        await store.InsertAsync(planned, CancellationToken.None);

        var read = await store.GetAsync("a1", CancellationToken.None);
        Assert.NotNull(read);
        Assert.True(planned with { Gpus = read.Gpus } == read, $"read back {read}");
        Assert.Equal([0, 2], read.Gpus);
        Assert.Equal("a1", (await store.GetByUnitAsync("ullm-tiny-a1.service", CancellationToken.None))?.Id);
        var transition = Assert.Single(await store.ListTransitionsAsync("a1", CancellationToken.None));
        Assert.Equal(InstanceState.Planned, transition.State);
        Assert.Null(await store.GetAsync("nope", CancellationToken.None));
    }

    [Fact]
    public async Task State_changes_store_the_new_fields_and_append_transitions()
    {
        await store.InsertAsync(Planned("a1"), CancellationToken.None);
        time.Advance(TimeSpan.FromSeconds(1));
        await store.UpdateStateAsync("a1", InstanceState.Starting, "unit started", new InstanceUpdate(MainPid: 4242, InvocationId: "0123abcd"), CancellationToken.None);
        time.Advance(TimeSpan.FromSeconds(2));
        await store.UpdateStateAsync("a1", InstanceState.Ready, null, new InstanceUpdate(Port: 41001), CancellationToken.None);

        var read = await store.GetAsync("a1", CancellationToken.None);
        Assert.Equal(InstanceState.Ready, read!.State);
        Assert.Equal(time.GetUtcNow(), read.StateSince);
        Assert.Equal(4242, read.MainPid);
        Assert.Equal("0123abcd", read.InvocationId);
        Assert.Equal(41001, read.Port);
        Assert.Null(read.Failure);
        var transitions = await store.ListTransitionsAsync("a1", CancellationToken.None);
        Assert.Equal([InstanceState.Planned, InstanceState.Starting, InstanceState.Ready], transitions.Select(t => t.State));
        Assert.Equal("unit started", transitions[1].Message);
        Assert.Equal(time.GetUtcNow().AddSeconds(-2), transitions[1].At);
    }

    [Fact]
    public async Task A_failure_keeps_its_reason_and_leaves_the_active_list()
    {
        await store.InsertAsync(Planned("a1"), CancellationToken.None);
        await store.InsertAsync(Planned("b2", "big"), CancellationToken.None);
        await store.InsertAsync(Planned("c3"), CancellationToken.None);
        await store.UpdateStateAsync("a1", InstanceState.Failed, "killed by signal 9 (SIGKILL)", null, CancellationToken.None);
        await store.UpdateStateAsync("c3", InstanceState.Stopped, "stopped by ullmctl", null, CancellationToken.None);

        Assert.Equal("killed by signal 9 (SIGKILL)", (await store.GetAsync("a1", CancellationToken.None))!.Failure);
        Assert.Null((await store.GetAsync("c3", CancellationToken.None))!.Failure);
        Assert.Equal(["b2"], (await store.ListActiveAsync(CancellationToken.None)).Select(i => i.Id));
        Assert.Equal(["c3", "a1"], (await store.ListByModelAsync("tiny", CancellationToken.None)).Select(i => i.Id));
    }

    [Fact]
    public async Task Duplicates_and_unknown_ids_are_clear_errors()
    {
        await store.InsertAsync(Planned("a1"), CancellationToken.None);

        var duplicate = await Assert.ThrowsAsync<StorageException>(() => store.InsertAsync(Planned("a1"), CancellationToken.None));
        Assert.Contains("a1", duplicate.Message);
        var unknown = await Assert.ThrowsAsync<StorageException>(() => store.UpdateStateAsync("zz", InstanceState.Ready, null, null, CancellationToken.None));
        Assert.Contains("'zz'", unknown.Message);
        Assert.Empty(await store.ListTransitionsAsync("zz", CancellationToken.None));
    }
}
