using UnifiedLlm.Daemon.Gpu;
using UnifiedLlm.Daemon.Scheduling;
using static UnifiedLlm.Tests.Planning.PlanningFixture;

namespace UnifiedLlm.Tests.Scheduling;

/// <summary>The turns and reservations of <see cref="LoadAdmission"/>, as pure state.</summary>
public sealed class LoadAdmissionTests
{
    private static readonly LoadReservation OnGpu0 = new("ullm-a-1.service", new Dictionary<int, ulong> { [0] = 6 * GiB }, 1 * GiB);

    [Fact]
    public void Loads_take_turns_in_order_and_one_that_fits_begins_beside_the_others()
    {
        var admission = new LoadAdmission();
        admission.Enqueue("a");
        admission.Enqueue("b");

        Assert.False(admission.MayStartBeside("b"));
        admission.Begin(new AdmittedLoad("a", null, "llamacpp", OnGpu0));
        Assert.True(admission.MayStartBeside("b"));
        Assert.False(admission.MayRunAlone("b"));
        admission.Begin(new AdmittedLoad("b", null, "llamacpp", OnGpu0 with { Unit = "ullm-b-2.service" }));

        Assert.Equal(["a", "b"], admission.InFlight.Select(l => l.Model).Order());
        Assert.Throws<InvalidOperationException>(() => admission.Enqueue("a"));
    }

    [Fact]
    public void A_load_that_runs_alone_waits_for_the_loads_in_flight_and_nothing_begins_beside_it_or_overtakes_it()
    {
        var admission = new LoadAdmission();
        admission.Enqueue("a");
        admission.Begin(new AdmittedLoad("a", null, "llamacpp", OnGpu0));
        admission.Enqueue("b");
        admission.Enqueue("c");

        Assert.False(admission.MayRunAlone("b"));
        Assert.Throws<InvalidOperationException>(() => admission.Begin(new AdmittedLoad("b", null, "llamacpp", null)));
        Assert.False(admission.MayStartBeside("c"));
        admission.End("a");
        Assert.True(admission.MayRunAlone("b"));
        admission.Begin(new AdmittedLoad("b", null, "llamacpp", null));

        Assert.True(admission.IsTurnOf("c"));
        Assert.False(admission.MayStartBeside("c"));
        Assert.False(admission.MayRunAlone("c"));
        admission.End("b");
        Assert.True(admission.MayStartBeside("c"));
    }

    [Fact]
    public void A_load_that_gives_up_its_turn_lets_the_next_one_go()
    {
        var admission = new LoadAdmission();
        admission.Enqueue("a");
        admission.Enqueue("b");
        admission.End("a");

        Assert.True(admission.MayRunAlone("b"));
        Assert.Empty(admission.InFlight);
    }

    [Fact]
    public void Beside_counts_each_reservation_as_used_less_what_the_reading_already_shows_its_unit_holding()
    {
        var gpu0 = GpuWithFree(0, 20 * GiB) with { Processes = [new GpuProcess(4242, 2 * GiB, "ullm-a-1.service"), new GpuProcess(99, 1 * GiB, null)] };
        var context = Context(32 * GiB, [], gpu0, GpuWithFree(1, 20 * GiB));

        var beside = LoadAdmission.Beside(context, [OnGpu0]);

        Assert.Equal(16 * GiB, beside.Snapshot.Devices[0].FreeBytes);
        Assert.Equal(gpu0.UsedBytes + 4 * GiB, beside.Snapshot.Devices[0].UsedBytes);
        Assert.Equal(20 * GiB, beside.Snapshot.Devices[1].FreeBytes);
        Assert.Equal(31 * GiB, beside.HostAvailableBytes);
        Assert.Same(context, LoadAdmission.Beside(context, []));
    }

    [Fact]
    public void Beside_never_takes_more_than_is_free()
    {
        var context = Context(512 * MiB, [], GpuWithFree(0, 4 * GiB));

        var beside = LoadAdmission.Beside(context, [OnGpu0]);

        Assert.Equal(0UL, beside.Snapshot.Devices[0].FreeBytes);
        Assert.Equal(0UL, beside.HostAvailableBytes);
    }
}
