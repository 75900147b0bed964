/*
 * osu_ddt.c - the native side of bench/compare's derived-datatype benchmark: ping-pong of one column of an
 * N x N row-major double matrix, sent and received with MPI_Type_vector(N, 1, N, MPI_DOUBLE), in OSU's
 * latency format (the size column is N; the column holds 8 N bytes). Same workload as SharpMpi.Bench's
 * "column" verb.
 *   mpirun -n 2 osu_ddt column [-m min:max] [-i iterations] [-x warmup]
 */
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static long parse_size(const char *s)
{
    char *end;
    long v = strtol(s, &end, 10);
    if (*end == 'K' || *end == 'k') v *= 1024;
    else if (*end == 'M' || *end == 'm') v *= 1024 * 1024;
    return v;
}

int main(int argc, char **argv)
{
    int rank;
    MPI_Init(&argc, &argv);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    long minn = 4096, maxn = 4096;
    int iterations = 0, warmup = -1;
    for (int i = 2; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "-m")) {
            char *colon = strchr(argv[i + 1], ':');
            if (colon) { *colon = 0; minn = parse_size(argv[i + 1]); maxn = parse_size(colon + 1); }
            else minn = maxn = parse_size(argv[i + 1]);
        } else if (!strcmp(argv[i], "-i")) iterations = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "-x")) warmup = atoi(argv[i + 1]);
    }
    if (minn < 1) minn = 1;
    double *matrix = malloc(sizeof(double) * maxn * maxn);
    for (long i = 0; i < maxn * maxn; i++) matrix[i] = (double)i;
    if (rank == 0)
        printf("# OSU MPI Derived Datatype Column Test (native)\n# Datatype: MPI_Type_vector(N, 1, N, MPI_DOUBLE); Size = N.\n%-10s%20s\n", "# Size", "Latency (us)");
    for (long n = minn; n <= maxn; n *= 2) {
        MPI_Datatype column;
        MPI_Type_vector((int)n, 1, (int)n, MPI_DOUBLE, &column);
        MPI_Type_commit(&column);
        int iters = iterations > 0 ? iterations : 1000, warm = warmup >= 0 ? warmup : 100;
        double t0 = 0;
        MPI_Barrier(MPI_COMM_WORLD);
        for (int i = 0; i < iters + warm; i++) {
            if (i == warm) t0 = MPI_Wtime();
            if (rank == 0) {
                MPI_Send(matrix, 1, column, 1, 1, MPI_COMM_WORLD);
                MPI_Recv(matrix + 1, 1, column, 1, 1, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
            } else if (rank == 1) {
                MPI_Recv(matrix + 1, 1, column, 0, 1, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
                MPI_Send(matrix, 1, column, 0, 1, MPI_COMM_WORLD);
            }
        }
        double secs = MPI_Wtime() - t0;
        if (rank == 1 && matrix[1] != 0.0) { fprintf(stderr, "osu_ddt: wrong column received\n"); MPI_Abort(MPI_COMM_WORLD, 1); }
        if (rank == 0) { printf("%-10ld%20.2f\n", n, secs * 1e6 / (2.0 * iters)); fflush(stdout); }
        MPI_Type_free(&column);
    }
    free(matrix);
    MPI_Finalize();
    return 0;
}
