using UnifiedLlm.Daemon.Config;
using UnifiedLlm.Daemon.Routing.Peers;
using UnifiedLlm.Daemon.Scheduling;

namespace UnifiedLlm.Daemon.Routing;

/// <summary>
/// Turns a requested model into a <see cref="RoutePlan"/>: a route (ordered by its strategy), a local model or alias, a
/// provider model (<c>provider/model</c>, or a bare name a provider lists), followed by the configured fallback chain.
/// With peers, each local model is tried here and on the peers that report it, in <see cref="PeerPlacement"/>'s order,
/// and a model only peers report is served by them.
/// </summary>
internal sealed class ModelRouter(ConfigHolder config, IModelEndpoints local, UpstreamHealth health, PeerDirectory peers)
{
    private readonly Dictionary<string, int> roundRobin = new(StringComparer.Ordinal);

    private RouteNames? names;

    /// <summary>
    /// The plan for <paramref name="model"/>; null when no route, local model, provider or peer has that name
    /// (<see cref="DescribeUnknown"/> says so). A request a peer <paramref name="forwarded"/> gets no peer targets.
    /// </summary>
    public RoutePlan? Plan(string model, bool forwarded = false)
    {
        var current = config.Current;
        var views = forwarded || current.Peers.Count == 0 ? [] : peers.Views();
        var targets = new List<RouteTarget>();
        if (current.Routes.TryGetValue(model, out var route))
        {
            targets.AddRange(Order(route, route.Targets.Select(t => Resolve(current, t)).OfType<RouteTarget>().ToList()));
        }
        else if (Resolve(current, model) is { } target)
        {
            targets.Add(target);
        }
        else if (OnPeers(views, model, localConfigured: false, loadedHere: false) is { Count: > 0 } remote)
        {
            targets.AddRange(remote);
        }
        else
        {
            return null;
        }

        var chainKey = targets.Count == 1 && targets[0].IsLocal && !current.Router.Fallback.ContainsKey(model) ? targets[0].Model : model;
        if (current.Router.Fallback.TryGetValue(chainKey, out var chain))
        {
            targets.AddRange(chain.Select(t => Resolve(current, t)).OfType<RouteTarget>());
        }

        // A provider's unlisted model is the one name a client makes up; a route's or the config's names are bounded.
        var label = route is null && targets[0].Label != targets[0].Name ? targets[0].Label : model;
        if (views.Count > 0)
        {
            targets = WithPeers(targets, views);
        }

        RemoveRepeats(targets);
        return new RoutePlan(model, targets) { ModelLabel = label };
    }

    /// <summary>Why <paramref name="model"/> has no plan, with the configured names closest to it.</summary>
    public string DescribeUnknown(string model) =>
        $"the model '{model}' does not exist{Suggestions.DidYouMean(model, KnownNames(config.Current))}";

    /// <summary>Every name a client may ask for, for /v1/models and for "did you mean".</summary>
    public static IEnumerable<string> KnownNames(UllmConfig current) =>
        ModelNames.Of(current).Canonical.Keys
            .Concat(current.Providers.Values.SelectMany(p => p.Models.Select(m => $"{p.Name}/{m}")))
            .Concat(current.Routes.Keys);

    /// <summary>Each local target in its place among the peers that report its model (<see cref="PeerPlacement"/>).</summary>
    private List<RouteTarget> WithPeers(List<RouteTarget> targets, IReadOnlyList<PeerView> views)
    {
        if (!targets.Any(t => t.IsLocal))
        {
            return targets;
        }

        var ready = local.ReadyModels();
        return [.. targets.SelectMany(t => t.IsLocal ? OnPeers(views, t.Model, localConfigured: true, ready.Contains(t.Model)) : [t])];
    }

    /// <summary>The targets for <paramref name="model"/> here (when configured) and on the peers that report it, in order.</summary>
    private List<RouteTarget> OnPeers(IReadOnlyList<PeerView> views, string model, bool localConfigured, bool loadedHere)
    {
        var reporting = new List<(PeerView View, PeerModel Model)>();
        foreach (var view in views)
        {
            if (view.Status?.Find(model) is { } reported)
            {
                reporting.Add((view, reported));
            }
        }

        if (reporting.Count == 0)
        {
            return localConfigured ? [RouteTarget.Local(model)] : [];
        }

        var candidates = reporting.Select(r => new PeerCandidate(r.View.Peer.Name, r.View.Answering, r.Model.Loaded, r.Model.QueueDepth, r.View.Status!.Room)).ToList();
        var byPeer = reporting.ToDictionary(r => r.View.Peer.Name, r => RouteTarget.OnPeer(r.View.Peer, r.Model.Name), StringComparer.Ordinal);
        return [.. PeerPlacement.Order(localConfigured, loadedHere, () => local.FitsWithoutEviction(model), candidates)
            .Select(peer => peer is null ? RouteTarget.Local(model) : byPeer[peer])];
    }

    /// <summary>Keeps each target's first place only (a chain may repeat a route's target, two aliases one model); plans are a few long.</summary>
    private static void RemoveRepeats(List<RouteTarget> targets)
    {
        for (var i = targets.Count - 1; i > 0; i--)
        {
            for (var j = 0; j < i; j++)
            {
                if (targets[j].Name == targets[i].Name)
                {
                    targets.RemoveAt(i);
                    break;
                }
            }
        }
    }

    private RouteTarget? Resolve(UllmConfig current, string name)
    {
        var known = names;
        if (known?.Config != current)
        {
            names = known = new RouteNames(current);
        }

        return known.Resolve(name, local);
    }

    private List<RouteTarget> Order(RouteConfig route, List<RouteTarget> targets)
    {
        switch (route.Strategy)
        {
            case RouteStrategy.LocalFirst:
                return [.. targets.Where(t => t.IsLocal), .. targets.Where(t => !t.IsLocal)];
            case RouteStrategy.CloudFirst:
                return [.. targets.Where(t => !t.IsLocal), .. targets.Where(t => t.IsLocal)];
            case RouteStrategy.CostOptimized:
                return [.. targets.OrderBy(t => t.CostPerMillion)];
            case RouteStrategy.LatencyOptimized:
                // Targets never measured go first, so that every target gets a measurement.
                return [.. targets.OrderBy(t => health.TtftEwmaMs(t.Name) ?? -1)];
            default:
                int start;
                lock (roundRobin)
                {
                    roundRobin.TryGetValue(route.Name, out start);
                    roundRobin[route.Name] = (start + 1) % Math.Max(1, targets.Count);
                }

                return [.. targets.Skip(start % Math.Max(1, targets.Count)), .. targets.Take(start % Math.Max(1, targets.Count))];
        }
    }
}
