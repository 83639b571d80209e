namespace UnifiedLlm.Daemon.Routing;

/// <summary>The targets to try for one request, in order: the first that answers serves it, the rest are its fallbacks.</summary>
internal sealed record RoutePlan(string RequestedModel, IReadOnlyList<RouteTarget> Targets);
