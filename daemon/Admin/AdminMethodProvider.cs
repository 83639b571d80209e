using System.Reflection;
using Google.Protobuf;
using Grpc.AspNetCore.Server.Model;
using Grpc.Core;

namespace UnifiedLlm.Daemon.Admin;

/// <summary>
/// Binds the admin API's methods to <see cref="AdminService"/> with request decoders that answer INVALID_ARGUMENT for
/// bytes that are not the method's message. Grpc.AspNetCore decodes a request before any interceptor runs, so with the
/// generated binding an undecodable request became UNKNOWN "Exception was thrown by handler." and a stack trace in the
/// log. The method list is the generated one (<c>Admin.BindService</c>); each is matched to the service's public method
/// of the same name and parameters, and a missing one stops ullmd at start rather than answering UNIMPLEMENTED.
/// </summary>
internal sealed class AdminMethodProvider : IServiceMethodProvider<AdminService>
{
    public void OnServiceMethodDiscovery(ServiceMethodProviderContext<AdminService> context) =>
        UnifiedLlm.Admin.V1.Admin.BindService(new Binder(context), null);

    private sealed class Binder(ServiceMethodProviderContext<AdminService> context) : ServiceBinderBase
    {
        public override void AddMethod<TRequest, TResponse>(Method<TRequest, TResponse> method, UnaryServerMethod<TRequest, TResponse>? handler) =>
            context.AddUnaryMethod(
                Guarded(method), [], Invoker<UnaryServerMethod<AdminService, TRequest, TResponse>>(method.Name, typeof(TRequest), typeof(ServerCallContext)));

        public override void AddMethod<TRequest, TResponse>(Method<TRequest, TResponse> method, ServerStreamingServerMethod<TRequest, TResponse>? handler) =>
            context.AddServerStreamingMethod(
                Guarded(method),
                [],
                Invoker<ServerStreamingServerMethod<AdminService, TRequest, TResponse>>(
                    method.Name, typeof(TRequest), typeof(IServerStreamWriter<TResponse>), typeof(ServerCallContext)));

        public override void AddMethod<TRequest, TResponse>(Method<TRequest, TResponse> method, ClientStreamingServerMethod<TRequest, TResponse>? handler) =>
            throw new NotSupportedException($"admin method {method.Name}: client streaming is not bound");

        public override void AddMethod<TRequest, TResponse>(Method<TRequest, TResponse> method, DuplexStreamingServerMethod<TRequest, TResponse>? handler) =>
            throw new NotSupportedException($"admin method {method.Name}: duplex streaming is not bound");

        private static TDelegate Invoker<TDelegate>(string name, params Type[] parameters)
            where TDelegate : Delegate
        {
            var implementation = typeof(AdminService).GetMethod(name, BindingFlags.Public | BindingFlags.Instance, parameters)
                ?? throw new InvalidOperationException($"AdminService has no public method {name}({string.Join(", ", parameters.Select(p => p.Name))})");
            return (TDelegate)Delegate.CreateDelegate(typeof(TDelegate), implementation);
        }

        private static Method<TRequest, TResponse> Guarded<TRequest, TResponse>(Method<TRequest, TResponse> method)
            where TRequest : class
            where TResponse : class
        {
            var decode = method.RequestMarshaller.ContextualDeserializer;
            var marshaller = Marshallers.Create(method.RequestMarshaller.ContextualSerializer, context =>
            {
                try
                {
                    return decode(context);
                }
                catch (InvalidProtocolBufferException e)
                {
                    throw new RpcException(new Status(StatusCode.InvalidArgument, $"the request is not a valid {typeof(TRequest).Name} message: {e.Message}"));
                }
            });
            return new Method<TRequest, TResponse>(method.Type, method.ServiceName, method.Name, marshaller, method.ResponseMarshaller);
        }
    }
}
