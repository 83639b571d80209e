namespace UnifiedLlm.Daemon.Routing;

/// <summary>
/// The targets to try for one request, in order: the first that answers serves it, the rest are its fallbacks.
/// <see cref="ModelLabel"/> is how metrics label the model asked for: a name the config defines, never a client's string.
/// </summary>
internal sealed record RoutePlan(string RequestedModel, IReadOnlyList<RouteTarget> Targets)
{
    public string ModelLabel { get; init; } = RequestedModel;
}
