// 2-D heat diffusion (Jacobi iteration) on a grid split over a Cartesian process grid. Each rank owns a
// block plus a one-cell halo; every iteration exchanges halos with its four neighbours (SendReceive along
// each dimension, ProcNull at the edges) and the global residual is an Allreduce. The top edge is held at
// 100 degrees, the others at 0.
//   ./mpirun -n 4 examples/Jacobi [n] [tolerance]
using SharpMpi;

return MpiEnvironment.Run(args, world =>
{
    int n = args.Length > 0 ? int.Parse(args[0]) : 128;          // global interior is n x n
    double tolerance = args.Length > 1 ? double.Parse(args[1], System.Globalization.CultureInfo.InvariantCulture) : 1e-4;

    int[] dims = CartesianCommunicator.ComputeDims(world.Size, [0, 0]);
    using var grid = world.CreateCartesian(dims, [false, false])!;
    int[] coords = grid.Coordinates();
    int rows = Share(n, dims[0], coords[0]), cols = Share(n, dims[1], coords[1]);
    int width = cols + 2;                                          // with halo columns
    var u = new double[(rows + 2) * width];
    var next = new double[u.Length];
    if (coords[0] == 0)                                            // the hot top edge lives in the halo row
    {
        for (int j = 0; j < width; j++)
            u[j] = next[j] = 100.0;
    }

    var (up, down) = grid.Shift(dimension: 0, displacement: 1);
    var (left, right) = grid.Shift(dimension: 1, displacement: 1);
    var sendColumn = new double[rows];
    var receiveColumn = new double[rows];

    int iteration = 0;
    double residual = double.MaxValue;
    while (residual > tolerance && iteration < 100_000)
    {
        // Halo rows: send my first row up and receive my bottom halo from below, and the reverse.
        grid.SendReceive(u.AsSpan(width, width), up, 0, u.AsSpan((rows + 1) * width, width), down, 0);
        grid.SendReceive(u.AsSpan(rows * width, width), down, 1, u.AsSpan(0, width), up, 1);
        // Halo columns are strided: copy them out and in.
        ExchangeColumn(grid, u, rows, width, sendFrom: 1, receiveInto: cols + 1, to: left, from: right, tag: 2, sendColumn, receiveColumn);
        ExchangeColumn(grid, u, rows, width, sendFrom: cols, receiveInto: 0, to: right, from: left, tag: 3, sendColumn, receiveColumn);

        double local = 0;
        for (int i = 1; i <= rows; i++)
        {
            for (int j = 1; j <= cols; j++)
            {
                int k = i * width + j;
                double v = 0.25 * (u[k - 1] + u[k + 1] + u[k - width] + u[k + width]);
                local = Math.Max(local, Math.Abs(v - u[k]));
                next[k] = v;
            }
        }
        (u, next) = (next, u);
        residual = grid.Allreduce(local, Op.Max);
        iteration++;
    }

    double heat = 0;
    for (int i = 1; i <= rows; i++)
        for (int j = 1; j <= cols; j++)
            heat += u[i * width + j];
    double total = grid.Reduce(heat, Op.Sum, root: 0);
    if (grid.Rank == 0)
        Console.WriteLine($"converged after {iteration} iterations on a {dims[0]}x{dims[1]} process grid: residual {residual:E2}, mean temperature {total / ((double)n * n):F4}");

    static int Share(int total, int parts, int index) => total / parts + (index < total % parts ? 1 : 0);

    static void ExchangeColumn(Communicator grid, double[] u, int rows, int width, int sendFrom, int receiveInto,
        int to, int from, int tag, double[] send, double[] receive)
    {
        for (int i = 0; i < rows; i++)
            send[i] = u[(i + 1) * width + sendFrom];
        grid.SendReceive(send, to, tag, receive, from, tag);
        if (from == Communicator.ProcNull)
            return;
        for (int i = 0; i < rows; i++)
            u[(i + 1) * width + receiveInto] = receive[i];
    }
});
