using Grpc.Core;
using UnifiedLlm.Daemon.Admin;
using UnifiedLlm.Daemon.Gateway;
using UnifiedLlm.Daemon.Scheduling;

namespace UnifiedLlm.Tests.Gateway;

/// <summary>The scheduler's refusals reach HTTP clients and admin clients as statuses each of them acts on.</summary>
public sealed class LeaseFailureMappingTests
{
    private static readonly (string Kind, int Http, StatusCode Grpc)[] Table =
    [
        ("UnknownModel", 404, StatusCode.NotFound),
        ("BadArgument", 400, StatusCode.InvalidArgument),
        ("Conflict", 409, StatusCode.FailedPrecondition),
        ("NotLoaded", 409, StatusCode.FailedPrecondition),
        ("QueueFull", 429, StatusCode.ResourceExhausted),
        ("SwitchedOut", 503, StatusCode.Unavailable),
        ("NotReadyInTime", 503, StatusCode.Unavailable),
        ("BackingOff", 503, StatusCode.Unavailable),
        ("HeldAfterCrashes", 503, StatusCode.Unavailable),
        ("DoesNotFit", 503, StatusCode.Unavailable),
        ("LoadFailed", 503, StatusCode.Unavailable),
        ("ShuttingDown", 503, StatusCode.Unavailable),
    ];

    public static TheoryData<string, int, StatusCode> Rows => [.. Table];

    [Theory]
    [MemberData(nameof(Rows))]
    public void Each_refusal_maps_to_an_http_status_and_a_grpc_status_keeping_its_reason(string kind, int http, StatusCode grpc)
    {
        var failure = new LeaseFailure(Enum.Parse<LeaseFailureKind>(kind), "m", "the reason", TimeSpan.FromSeconds(2));

        var overHttp = ModelUnavailableException.From(failure);
        var overGrpc = InstanceMapping.ToRpc(failure);

        Assert.Equal((http, "the reason", TimeSpan.FromSeconds(2)), (overHttp.StatusCode, overHttp.Message, overHttp.RetryAfter));
        Assert.Equal((grpc, "the reason"), (overGrpc.StatusCode, overGrpc.Status.Detail));
    }

    [Fact]
    public void Every_kind_of_refusal_has_a_row()
    {
        Assert.Equal(Enum.GetNames<LeaseFailureKind>().Order(StringComparer.Ordinal), Table.Select(r => r.Kind).Order(StringComparer.Ordinal));
    }
}
