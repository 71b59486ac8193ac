using Grpc.Core;

namespace Orch.Coordination.Dapr;

internal static class DaprCalls
{
    /// <summary>
    /// Awaits a unary call. A call the caller cancelled ends as <see cref="OperationCanceledException"/>,
    /// as the ports promise, rather than as gRPC's CANCELLED status.
    /// </summary>
    public static async Task<T> Rpc<T>(AsyncUnaryCall<T> call, CancellationToken cancellationToken)
    {
        using (call)
        {
            try
            {
                return await call.ResponseAsync.ConfigureAwait(false);
            }
            catch (RpcException e) when (e.StatusCode == StatusCode.Cancelled && cancellationToken.IsCancellationRequested)
            {
                throw new OperationCanceledException(e.Status.Detail, e, cancellationToken);
            }
        }
    }
}
