using UnifiedLlm.Daemon.Routing.Peers;

namespace UnifiedLlm.Tests.Gateway;

/// <summary>Where a model goes among this host (null) and its peers: the placement rules, as pure policy.</summary>
public sealed class PeerPlacementTests
{
    private static readonly PeerCandidate LoadedB = new("b", Answering: true, Loaded: true, QueueDepth: 0, Room: 10);
    private static readonly PeerCandidate RoomyC = new("c", Answering: true, Loaded: false, QueueDepth: 0, Room: 100);
    private static readonly PeerCandidate TightD = new("d", Answering: true, Loaded: false, QueueDepth: 0, Room: 50);
    private static readonly PeerCandidate SilentA = new("a", Answering: false, Loaded: true, QueueDepth: 0, Room: 1000);

    [Fact]
    public void A_model_loaded_here_is_served_here_first()
    {
        Assert.Equal([null, "b", "c", "d", "a"], PeerPlacement.Order(true, loadedHere: true, Never, [SilentA, TightD, RoomyC, LoadedB]));
    }

    [Fact]
    public void A_model_loaded_on_a_peer_goes_there_the_shortest_queue_first()
    {
        var busyE = new PeerCandidate("e", true, true, QueueDepth: 3, Room: 0);
        Assert.Equal(["b", "e", null, "c", "a"], PeerPlacement.Order(true, false, Never, [busyE, SilentA, RoomyC, LoadedB]));
    }

    [Fact]
    public void A_model_loaded_nowhere_loads_here_if_it_fits_else_on_the_peer_with_the_most_room()
    {
        Assert.Equal([null, "c", "d", "a"], PeerPlacement.Order(true, false, () => true, [TightD, SilentA, RoomyC]));
        Assert.Equal(["c", "d", null, "a"], PeerPlacement.Order(true, false, () => false, [TightD, SilentA, RoomyC]));
    }

    [Fact]
    public void A_model_not_configured_here_goes_to_peers_only_and_the_fit_here_is_asked_only_when_it_matters()
    {
        Assert.Equal(["b", "c", "a"], PeerPlacement.Order(false, false, Never, [SilentA, RoomyC, LoadedB]));
        Assert.Equal([null, "c"], PeerPlacement.Order(true, true, Never, [RoomyC]));
    }

    /// <summary>A fit question that must not be asked: the planner's answer is not needed for this case.</summary>
    private static bool Never() => throw new InvalidOperationException("the fit here was asked though the model is loaded somewhere");
}
