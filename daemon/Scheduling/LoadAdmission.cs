using UnifiedLlm.Daemon.Scheduling.Planning;
using UnifiedLlm.Daemon.Scheduling.Policy;

namespace UnifiedLlm.Daemon.Scheduling;

/// <summary>
/// The memory a load in flight holds from its plan until it is ready or failed: per GPU index, and on the host; and
/// the RPC workers its split uses (<see cref="Workers"/>), whole, since a worker serves one client at a time.
/// </summary>
internal sealed record LoadReservation(string Unit, IReadOnlyDictionary<int, ulong> GpuBytes, ulong HostBytes)
{
    public IReadOnlySet<string> Workers { get; init; } = new HashSet<string>(StringComparer.Ordinal);

    /// <summary>The reservation of <paramref name="plan"/>, started as <paramref name="unit"/>.</summary>
    public static LoadReservation Of(string unit, LoadPlan plan) =>
        new(unit, EngineRequests.GpuBytes(plan, null), plan.Estimate.HostTotalBytes)
        {
            Workers = plan.Remote.Select(r => r.Device.Worker).ToHashSet(StringComparer.Ordinal),
        };
}

/// <summary>A load that has begun: its model's group and backend (for the rules), and its reservation, or none when it runs alone.</summary>
internal sealed record AdmittedLoad(string Model, string? Group, string BackendKey, LoadReservation? Reservation)
{
    public bool Alone => Reservation is null;
}

/// <summary>
/// Which loads may run now. Loads take turns in the order they asked. The load whose turn it is starts beside the loads
/// in flight when nothing has to stop for it and its plan, made with their reservations counted as used memory, fits;
/// otherwise it runs alone (it may evict, and plans against a settled machine) once the loads in flight have ended, and
/// nothing starts beside it. So loads that do not compete for memory do not wait for each other's readiness, no two
/// plans count the same free memory, and a load that must evict is not overtaken by later ones. Pure state, owned by
/// the scheduler and changed only on its loop.
/// </summary>
internal sealed class LoadAdmission
{
    private readonly List<string> waiting = [];
    private readonly Dictionary<string, AdmittedLoad> inFlight = new(StringComparer.Ordinal);

    public IReadOnlyCollection<AdmittedLoad> InFlight => inFlight.Values;

    /// <summary>The models waiting for their turn, first first.</summary>
    public IReadOnlyList<string> Waiting => waiting;

    /// <summary>What the loads in flight beside each other hold: their reservations (one running alone has none).</summary>
    public IEnumerable<LoadReservation> Reservations => inFlight.Values.Select(l => l.Reservation).OfType<LoadReservation>();

    /// <summary>True when a load runs alone: nothing may start beside it.</summary>
    public bool AloneInFlight => inFlight.Values.Any(l => l.Alone);

    /// <summary><paramref name="model"/>'s load asks for its turn. A model has at most one load, waiting or in flight.</summary>
    public void Enqueue(string model)
    {
        if (waiting.Contains(model) || inFlight.ContainsKey(model))
        {
            throw new InvalidOperationException($"{model} already has a load waiting or in flight");
        }

        waiting.Add(model);
    }

    public bool IsTurnOf(string model) => waiting.Count > 0 && waiting[0] == model;

    /// <summary>True when it is <paramref name="model"/>'s turn and no load is in flight: it may run alone.</summary>
    public bool MayRunAlone(string model) => IsTurnOf(model) && inFlight.Count == 0;

    /// <summary>True when it is <paramref name="model"/>'s turn and no load runs alone: it may start beside the others if its plan fits.</summary>
    public bool MayStartBeside(string model) => IsTurnOf(model) && !AloneInFlight;

    /// <summary>
    /// <paramref name="model"/>'s turn now, for <see cref="LoadTurn"/>: <paramref name="rulesStopNothing"/> when no
    /// exclusive group member or <c>max_loaded</c> excess, counting the loads in flight, has to stop for it, at the
    /// placement <paramref name="version"/>.
    /// </summary>
    public TurnState Turn(string model, bool rulesStopNothing, long version) =>
        new(IsTurnOf(model), MayStartBeside(model), MayRunAlone(model), rulesStopNothing, version);

    /// <summary>The loads in flight as the rules see them: loaded, holding no memory the rules count, and never to be stopped.</summary>
    public IEnumerable<LoadedMember> AsMembers(DateTimeOffset now) =>
        inFlight.Values.Select(l => new LoadedMember(new LoadedInstance(l.Model, new Dictionary<int, ulong>(), 0, 0, Pinned: true, Busy: true, now), l.Group, l.BackendKey));

    /// <summary>The load whose turn it is begins: beside the others with <paramref name="load"/>'s reservation, or alone without one.</summary>
    public void Begin(AdmittedLoad load)
    {
        if (!IsTurnOf(load.Model))
        {
            throw new InvalidOperationException($"{load.Model}: not its turn to load (waiting: {string.Join(", ", waiting)})");
        }

        if (load.Alone ? inFlight.Count > 0 : AloneInFlight)
        {
            throw new InvalidOperationException($"{load.Model} cannot begin {(load.Alone ? "alone" : "beside")} the loads in flight: {string.Join(", ", inFlight.Keys)}");
        }

        waiting.RemoveAt(0);
        inFlight[load.Model] = load;
    }

    /// <summary><paramref name="model"/>'s load ended (ready, failed) or gave up its turn; the next may go.</summary>
    public void End(string model)
    {
        waiting.Remove(model);
        inFlight.Remove(model);
    }

    /// <summary>
    /// The machine as a load planned beside the loads in flight sees it: each reservation's bytes used on its GPUs (less
    /// what the GPU reading already shows its unit's processes holding, so memory is not counted twice once a backend
    /// has allocated it) and on the host, and its RPC workers taken out of the devices a split may use (until its
    /// llama-server connects, the worker monitor does not see them held).
    /// </summary>
    public static PlacementContext Beside(PlacementContext context, IEnumerable<LoadReservation> reservations)
    {
        var held = reservations.ToList();
        if (held.Count == 0)
        {
            return context;
        }

        var devices = context.Snapshot.Devices.Select(d =>
        {
            var reserved = held.Aggregate(0UL, (sum, r) =>
            {
                var planned = r.GpuBytes.TryGetValue(d.Index, out var bytes) ? bytes : 0;
                var seen = d.Processes.Where(p => p.Unit == r.Unit).Aggregate(0UL, (s, p) => s + p.UsedBytes);
                return sum + (planned > seen ? planned - seen : 0);
            });
            var taken = Math.Min(d.FreeBytes, reserved);
            return d with { FreeBytes = d.FreeBytes - taken, UsedBytes = d.UsedBytes + taken };
        }).ToList();
        var host = held.Aggregate(0UL, (sum, r) => sum + r.HostBytes);
        var reservedWorkers = held.SelectMany(r => r.Workers.Select(w => (Worker: w, r.Unit))).DistinctBy(w => w.Worker).ToList();
        return context with
        {
            Snapshot = context.Snapshot with { Devices = devices },
            HostAvailableBytes = context.HostAvailableBytes - Math.Min(context.HostAvailableBytes, host),
            Remote = [.. context.Remote.Where(d => reservedWorkers.All(w => w.Worker != d.Worker))],
            RemoteSkipped =
            [
                .. context.RemoteSkipped,
                .. reservedWorkers
                    .Where(w => context.Remote.Any(d => d.Worker == w.Worker))
                    .Select(w => $"rpc worker '{w.Worker}' ({context.Remote.First(d => d.Worker == w.Worker).Address}): reserved by a load in flight ({w.Unit})"),
            ],
        };
    }
}
