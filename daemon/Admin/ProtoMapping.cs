using Google.Protobuf.WellKnownTypes;
using UnifiedLlm.Admin.V1;
using UnifiedLlm.Daemon.Config;
using UnifiedLlm.Daemon.Events;
using UnifiedLlm.Daemon.Providers;
using UnifiedLlm.Daemon.Routing;
using UnifiedLlm.Daemon.Storage;

namespace UnifiedLlm.Daemon.Admin;

/// <summary>Daemon types to admin API messages.</summary>
internal static class ProtoMapping
{
    public static Model ToProto(ModelConfig model)
    {
        var proto = new Model
        {
            Name = model.Name,
            Backend = model.BackendKey,
            Source = model.Source,
            Context = (uint)model.Context,
            GpuLayers = model.GpuLayers?.ToString() ?? "auto",
            TtlSeconds = (uint)model.Ttl.TotalSeconds,
            Priority = model.Priority,
            Pinned = model.Pinned,
            Group = model.Group ?? string.Empty,
            RemoteSource = model.Remote?.Text ?? string.Empty,
            Downloaded = model.Remote is not null && Models.Download.ModelDownloader.IsPresent(model),
        };
        proto.Aliases.AddRange(model.Aliases);
        return proto;
    }

    public static AuditRecord ToProto(AuditRow row)
    {
        var proto = new AuditRecord
        {
            RequestId = row.RequestId,
            Time = Timestamp.FromDateTimeOffset(row.Time),
            KeyId = row.KeyId ?? "",
            Client = row.Client,
            ModelRequested = row.ModelRequested,
            Target = row.Target ?? "",
            HttpStatus = (uint)row.HttpStatus,
            Outcome = row.Outcome,
            PromptTokens = (ulong)row.PromptTokens,
            CompletionTokens = (ulong)row.CompletionTokens,
            TokensEstimated = row.TokensEstimated,
            TtftMs = (ulong)(row.TtftMs ?? 0),
            LatencyMs = (ulong)row.LatencyMs,
            Cost = row.Cost,
            Error = row.Error ?? "",
            Cache = row.Cache ?? "",
        };
        proto.FallbackPath.AddRange(row.FallbackPath);
        return proto;
    }

    public static ApiKey ToProto(ApiKeyRecord key)
    {
        var proto = new ApiKey
        {
            Id = key.Id,
            Name = key.Name,
            Prefix = key.Prefix,
            RequestsPerMinute = (uint)key.RequestsPerMinute,
            TokensPerMinute = (ulong)key.TokensPerMinute,
            CreatedAt = Timestamp.FromDateTimeOffset(key.CreatedAt),
            ExpiresAt = key.ExpiresAt is { } e ? Timestamp.FromDateTimeOffset(e) : null,
            RevokedAt = key.RevokedAt is { } r ? Timestamp.FromDateTimeOffset(r) : null,
            LastUsedAt = key.LastUsedAt is { } u ? Timestamp.FromDateTimeOffset(u) : null,
        };
        proto.Models.AddRange(key.Models);
        return proto;
    }

    public static BreakerState ToProto(BreakerSnapshot breaker) => new()
    {
        Target = breaker.Upstream,
        State = breaker.State,
        ChangedAt = Timestamp.FromDateTimeOffset(breaker.ChangedAt),
        LastError = breaker.LastError ?? "",
    };

    public static Provider ToProto(ProviderConfig provider, UpstreamHealth health)
    {
        var proto = new Provider
        {
            Name = provider.Name,
            Kind = EnumNames.Providers.NameOf(provider.Kind),
            BaseUrl = provider.BaseUrl.ToString(),
            KeySource = provider.ApiKey.ToString(),
            KeyPresent = ApiKeyReader.IsPresent(provider.ApiKey),
            CostPerMillionInputTokens = provider.CostPerMillionInputTokens,
            CostPerMillionOutputTokens = provider.CostPerMillionOutputTokens,
        };
        proto.Models.AddRange(provider.Models);
        var (requests, failures, ttft) = health.ProviderStats(provider.Name);
        proto.Requests = requests;
        proto.Failures = failures;
        proto.TtftEwmaMs = ttft ?? 0;
        if (health.BreakerOf(provider.Name) is { } breaker)
        {
            proto.Breaker = ToProto(breaker);
        }

        return proto;
    }

    public static Event ToProto(DaemonEvent e) => new()
    {
        Time = Timestamp.FromDateTimeOffset(e.Time),
        Kind = e.Kind,
        Message = e.Message,
        Model = e.Model ?? "",
        Unit = e.Unit ?? "",
        RequestId = e.RequestId ?? "",
    };
}
