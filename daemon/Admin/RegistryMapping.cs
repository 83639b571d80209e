using Google.Protobuf.WellKnownTypes;
using UnifiedLlm.Admin.V1;
using UnifiedLlm.Daemon.Models.Registry;

namespace UnifiedLlm.Daemon.Admin;

/// <summary>Model registry results to admin API messages.</summary>
internal static class RegistryMapping
{
    public static UnifiedLlm.Admin.V1.ModelProfile ToProto(Models.ModelProfile profile, DateTimeOffset scannedAt) => new()
    {
        Format = profile.Format,
        Architecture = profile.Architecture,
        ParameterCount = profile.ParameterCount,
        Quantization = profile.FileType ?? "",
        LayerCount = (uint)profile.LayerCount,
        ContextLength = (uint)Math.Min(profile.ContextLength, uint.MaxValue),
        EmbeddingLength = (uint)Math.Min(profile.EmbeddingLength, uint.MaxValue),
        HeadCount = (uint)Math.Min(profile.MaxHeadCount, uint.MaxValue),
        HeadCountKv = (uint)Math.Min(profile.MaxKvHeadCount, uint.MaxValue),
        ExpertCount = (uint)Math.Min(profile.ExpertCount, uint.MaxValue),
        FileBytes = (ulong)profile.FileBytes,
        ScannedAt = Timestamp.FromDateTimeOffset(scannedAt),
    };

    public static ScanModelsResponse ToProto(ScanSummary summary)
    {
        var response = new ScanModelsResponse
        {
            FilesSeen = (uint)summary.FilesSeen,
            Added = (uint)summary.Added,
            Updated = (uint)summary.Updated,
            Unchanged = (uint)summary.Unchanged,
            Removed = (uint)summary.Removed,
        };
        response.Errors.AddRange(summary.Errors.Select(e => new ScanError { Path = e.Path, Message = e.Message }));
        return response;
    }
}
