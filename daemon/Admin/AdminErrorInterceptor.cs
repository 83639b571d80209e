using Google.Protobuf;
using Grpc.Core;
using Grpc.Core.Interceptors;

namespace UnifiedLlm.Daemon.Admin;

/// <summary>
/// The last line between an admin handler and the wire: an exception that is not already an <see cref="RpcException"/>
/// never becomes UNKNOWN "Exception was thrown by handler.". Input the handler could not use (a format, range or
/// argument error, an undecodable nested message) is INVALID_ARGUMENT with its reason and one warning line in the log;
/// a cancellation the client did not ask for (ullmd stopping) is UNAVAILABLE; anything else is a fault of ullmd:
/// INTERNAL naming the method, logged with its stack trace.
/// </summary>
internal sealed partial class AdminErrorInterceptor(ILogger<AdminErrorInterceptor> logger) : Interceptor
{
    private const int MaxMessageLength = 1024;

    public override async Task<TResponse> UnaryServerHandler<TRequest, TResponse>(
        TRequest request, ServerCallContext context, UnaryServerMethod<TRequest, TResponse> continuation)
    {
        try
        {
            return await continuation(request, context);
        }
        catch (Exception e) when (IsUnmapped(e, context))
        {
            throw Translate(e, context);
        }
    }

    public override async Task ServerStreamingServerHandler<TRequest, TResponse>(
        TRequest request, IServerStreamWriter<TResponse> responseStream, ServerCallContext context, ServerStreamingServerMethod<TRequest, TResponse> continuation)
    {
        try
        {
            await continuation(request, responseStream, context);
        }
        catch (Exception e) when (IsUnmapped(e, context))
        {
            throw Translate(e, context);
        }
    }

    private static bool IsUnmapped(Exception e, ServerCallContext context) =>
        e is not (RpcException or OutOfMemoryException) && !(e is OperationCanceledException && context.CancellationToken.IsCancellationRequested);

    private RpcException Translate(Exception e, ServerCallContext context)
    {
        var message = e.Message.Length <= MaxMessageLength ? e.Message : e.Message[..MaxMessageLength] + "…";
        if (e is InvalidProtocolBufferException or FormatException or OverflowException or ArgumentException)
        {
            LogRejected(context.Method, e.GetType().Name, message);
            return new RpcException(new Status(StatusCode.InvalidArgument, message));
        }

        if (e is OperationCanceledException)
        {
            return new RpcException(new Status(StatusCode.Unavailable, $"{context.Method} was cancelled inside ullmd (is it stopping?)"));
        }

        LogFailed(e, context.Method, message);
        return new RpcException(new Status(StatusCode.Internal, $"{context.Method} failed inside ullmd ({e.GetType().Name}: {message}); its log has the details"));
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Admin call {Method} rejected: {Kind}: {Reason}")]
    private partial void LogRejected(string method, string kind, string reason);

    [LoggerMessage(Level = LogLevel.Error, Message = "Admin call {Method} failed: {Reason}")]
    private partial void LogFailed(Exception e, string method, string reason);
}
