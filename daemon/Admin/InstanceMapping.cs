using Google.Protobuf.WellKnownTypes;
using Grpc.Core;
using UnifiedLlm.Daemon.Scheduling;
using UnifiedLlm.Daemon.Storage;
using ProtoHold = UnifiedLlm.Admin.V1.ModelHold;
using ProtoInstance = UnifiedLlm.Admin.V1.ModelInstance;
using ProtoPhase = UnifiedLlm.Admin.V1.LoadPhase;
using ProtoProgress = UnifiedLlm.Admin.V1.LoadProgress;
using ProtoState = UnifiedLlm.Admin.V1.InstanceState;

namespace UnifiedLlm.Daemon.Admin;

/// <summary>Scheduler instances, holds and refusals to admin API messages and statuses.</summary>
internal static class InstanceMapping
{
    public static ProtoInstance ToProto(InstanceInfo instance)
    {
        var last = instance.Transitions[^1];
        var proto = new ProtoInstance
        {
            Model = instance.Model,
            Unit = instance.UnitName,
            State = ToProto(instance.State),
            StateSince = Timestamp.FromDateTimeOffset(last.At),
            Port = instance.BaseAddress is { } address ? (uint)address.Port : 0,
            MainPid = (uint)(instance.MainPid ?? 0),
            InFlight = (uint)instance.Leases,
            LastUsed = Timestamp.FromDateTimeOffset(instance.LastUsed),
            Failure = instance.State == InstanceState.Failed ? last.Reason ?? string.Empty : string.Empty,
        };
        if (instance.Plan is { } plan)
        {
            proto.Gpus.AddRange(plan.GpuIndices.Select(g => (uint)g));
            proto.GpuLayers = (uint)Math.Max(0, plan.GpuLayers);
            proto.Context = (uint)plan.ContextLength;
            proto.EstimatedBytes = plan.Estimate.GpuTotalBytes + plan.Estimate.HostTotalBytes;
            proto.Parallel = (uint)plan.Parallel;
            proto.CacheType = plan.Estimate.CacheType.ToString();
        }

        proto.Overrides = instance.Overrides.ToString();

        return proto;
    }

    public static ProtoHold ToProto(LoadHold hold)
    {
        var proto = new ProtoHold
        {
            Model = hold.Model,
            Kind = hold.Kind == LoadHoldKind.Backoff ? "backoff" : "crash-loop",
            Failures = (uint)hold.Failures,
            Reason = hold.Reason,
        };
        if (hold.Until is { } until)
        {
            proto.Until = Timestamp.FromDateTimeOffset(until);
        }

        return proto;
    }

    /// <summary>The scheduler's refusal as an admin client sees it over gRPC.</summary>
    public static RpcException ToRpc(LeaseFailure failure) => new(new Grpc.Core.Status(
        failure.Kind switch
        {
            LeaseFailureKind.BadArgument => StatusCode.InvalidArgument,
            LeaseFailureKind.UnknownModel => StatusCode.NotFound,
            LeaseFailureKind.Conflict or LeaseFailureKind.NotLoaded => StatusCode.FailedPrecondition,
            LeaseFailureKind.QueueFull => StatusCode.ResourceExhausted,
            _ => StatusCode.Unavailable,
        },
        failure.Reason));

    /// <summary>A load's stage as a progress message; the caller sets the model as asked for and the elapsed time.</summary>
    public static ProtoProgress ToProto(LoadStep step) => new()
    {
        Phase = step.Stage switch
        {
            LoadStage.Queued => ProtoPhase.Queued,
            LoadStage.Planning => ProtoPhase.Planning,
            LoadStage.Evicting => ProtoPhase.Evicting,
            LoadStage.StartingUnit => ProtoPhase.StartingUnit,
            LoadStage.LoadingWeights => ProtoPhase.LoadingWeights,
            _ => ProtoPhase.Unspecified,
        },
        Message = step.Detail,
        Instance = step.Unit is null ? null : new ProtoInstance { Model = step.Model, Unit = step.Unit },
    };

    private static ProtoState ToProto(InstanceState state) => state switch
    {
        InstanceState.Planned => ProtoState.Planned,
        InstanceState.Starting => ProtoState.Starting,
        InstanceState.Loading => ProtoState.Loading,
        InstanceState.Ready => ProtoState.Ready,
        InstanceState.Draining => ProtoState.Draining,
        InstanceState.Stopped => ProtoState.Stopped,
        InstanceState.Failed => ProtoState.Failed,
        _ => ProtoState.Unspecified,
    };
}
