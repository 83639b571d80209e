using System.Collections.Concurrent;
using CsCheck;
using Google.Protobuf;
using Google.Protobuf.Reflection;
using Grpc.Core;
using Grpc.Net.Client;
using UnifiedLlm.Ctl;
using UnifiedLlm.Tests.Daemon;
using UnifiedLlm.Tests.Support;

namespace UnifiedLlm.Tests.Reliability;

/// <summary>
/// Fuzzing the admin API (issue #21) over a real ullmd's admin socket: for every RPC, random messages of its request
/// type (every field set to generated values, nested messages included) and raw bytes. Every answer is a status that
/// names what is wrong (INVALID_ARGUMENT, NOT_FOUND, …) or a result; never UNKNOWN or INTERNAL, never a handler
/// exception in the log. Streaming RPCs are cut after a short deadline.
/// </summary>
[Collection(nameof(DaemonProcessTests))]
public sealed class AdminFuzzTests : IDisposable
{
    private static readonly Marshaller<byte[]> Bytes = Marshallers.Create(b => b, b => b);
    private readonly TempDirectory dir = new("ullmd-admin-fuzz");

    public void Dispose() => dir.Dispose();

    [Fact(Timeout = 300_000)]
    public async Task Every_admin_rpc_answers_random_messages_and_bytes_with_a_typed_status()
    {
        var ct = TestContext.Current.CancellationToken;
        var paths = DaemonProcess.WriteConfig(dir, "\n[models.tiny]\nbackend = \"llamacpp\"\nsource = \"/models/tiny.gguf\"\n");
        await using var daemon = await DaemonProcess.StartAsync(dir, paths);
        using var channel = GrpcChannel.ForAddress("http://localhost", new GrpcChannelOptions { HttpHandler = UnixSocketHttp.Handler(paths.AdminSocket), DisposeHttpClient = true });
        var invoker = channel.CreateCallInvoker();
        var methods = UnifiedLlm.Admin.V1.Admin.Descriptor.Methods;
        var perRpc = SuiteRun.Count(30);
        var codes = new ConcurrentDictionary<StatusCode, int>();

        var input = Gen.Select(Gen.Int[0, methods.Count - 1], Gen.Int[0, int.MaxValue], Gen.Frequency<int>((4, Gen.Const(0)), (1, Gen.Const(1))))
            .SelectMany(t => (t.Item3 == 0 ? Message(methods[t.Item1].InputType, 2) : Gen.Byte.Array[0, 48]).Select(bytes => (Method: methods[t.Item1], Bytes: bytes)));
        await input.SampleAsync(async call =>
        {
            var code = await CallAsync(invoker, call.Method, call.Bytes);
            codes.AddOrUpdate(code, 1, (_, n) => n + 1);
            Assert.True(code is not (StatusCode.Unknown or StatusCode.Internal or StatusCode.DataLoss), $"{call.Method.Name} answered {code}");
        }, iter: perRpc * methods.Count, threads: 4, print: c => $"{c.Method.Name} {Convert.ToHexString(c.Bytes)}");

        Assert.Equal("tiny", (await new UnifiedLlm.Admin.V1.Admin.AdminClient(channel).GetModelAsync(new UnifiedLlm.Admin.V1.GetModelRequest { Name = "tiny" }, cancellationToken: ct)).Name);
        Assert.Equal(0, await daemon.StopAsync());
        Assert.DoesNotContain("Exception was thrown by handler", daemon.Output, StringComparison.Ordinal);
        Assert.True(codes.ContainsKey(StatusCode.InvalidArgument) && codes.ContainsKey(StatusCode.OK), string.Join(", ", codes.Select(c => $"{c.Key}×{c.Value}")));
        SuiteRun.Record("fuzz.admin_rpcs", $"{perRpc * methods.Count}");
    }

    private static async Task<StatusCode> CallAsync(CallInvoker invoker, MethodDescriptor method, byte[] request)
    {
        var service = method.Service.FullName;
        try
        {
            if (method.IsServerStreaming)
            {
                var streaming = new Method<byte[], byte[]>(MethodType.ServerStreaming, service, method.Name, Bytes, Bytes);
                using var call = invoker.AsyncServerStreamingCall(streaming, null, new CallOptions(deadline: DateTime.UtcNow.AddMilliseconds(400)), request);
                while (await call.ResponseStream.MoveNext(CancellationToken.None))
                {
                }

                return StatusCode.OK;
            }

            var unary = new Method<byte[], byte[]>(MethodType.Unary, service, method.Name, Bytes, Bytes);
            await invoker.AsyncUnaryCall(unary, null, new CallOptions(deadline: DateTime.UtcNow.AddSeconds(60)), request);
            return StatusCode.OK;
        }
        catch (RpcException e) when (e.StatusCode == StatusCode.DeadlineExceeded && method.IsServerStreaming)
        {
            return StatusCode.OK;
        }
        catch (RpcException e)
        {
            return e.StatusCode;
        }
    }

    /// <summary>A message of the type, encoded: each field present or not, with a value generated for its type.</summary>
    private static Gen<byte[]> Message(MessageDescriptor type, int depth) =>
        Gen.Select(type.Fields.InFieldNumberOrder().Select(f => Field(f, depth).Array[0, f.IsRepeated ? 3 : 1]).ToArray().Select(g => (IGen<byte[][]>)g).Aggregate(
            Gen.Const(Array.Empty<byte[][]>()),
            (all, next) => Gen.Select(all, (Gen<byte[][]>)next, (a, n) => a.Append(n).ToArray())), fields => fields.SelectMany(f => f).SelectMany(b => b).ToArray());

    private static Gen<byte[]> Field(FieldDescriptor field, int depth)
    {
        Gen<byte[]> Encoded(WireFormat.WireType wire, Action<CodedOutputStream> write) => Gen.Const(() =>
        {
            using var memory = new MemoryStream();
            var output = new CodedOutputStream(memory);
            output.WriteTag(field.FieldNumber, wire);
            write(output);
            output.Flush();
            return memory.ToArray();
        });

        Gen<byte[]> Varint(Gen<ulong> values) => values.SelectMany(v => Encoded(WireFormat.WireType.Varint, o => o.WriteUInt64(v)));
        Gen<byte[]> Delimited(Gen<byte[]> payloads) => payloads.SelectMany(p => Encoded(WireFormat.WireType.LengthDelimited, o => o.WriteBytes(ByteString.CopyFrom(p))));

        return field.FieldType switch
        {
            FieldType.String => Delimited(Gen.Frequency<string>(
                (3, Gen.OneOf("tiny", "", "nosuch", "ullm-0000", "../../etc/passwd", "tiny\u001b[2J", "[server]\nx = 1\n", new string('m', 65))),
                (2, Gen.String[0, 20])).Select(s => System.Text.Encoding.UTF8.GetBytes(s))),
            FieldType.Bytes => Delimited(Gen.Byte.Array[0, 16]),
            FieldType.Bool or FieldType.Enum or FieldType.Int32 or FieldType.Int64 or FieldType.UInt32 or FieldType.UInt64 or FieldType.SInt32 or FieldType.SInt64 =>
                Varint(Gen.Frequency<ulong>((2, Gen.OneOf(0UL, 1UL, 2UL, 64UL, 4096UL, ulong.MaxValue, (ulong)uint.MaxValue)), (1, Gen.ULong))),
            FieldType.Double or FieldType.Fixed64 or FieldType.SFixed64 => Gen.ULong.SelectMany(v => Encoded(WireFormat.WireType.Fixed64, o => o.WriteFixed64(v))),
            FieldType.Float or FieldType.Fixed32 or FieldType.SFixed32 => Gen.UInt.SelectMany(v => Encoded(WireFormat.WireType.Fixed32, o => o.WriteFixed32(v))),
            FieldType.Message when depth > 0 => Delimited(Message(field.MessageType, depth - 1)),
            _ => Delimited(Gen.Byte.Array[0, 8]),
        };
    }
}
