// A JVM that stays far below its heap ceiling (-Xmx) while it grows off-heap memory:
// 8 MiB direct ByteBuffers, kept alive like a leaking buffer pool (think Netty). The
// heap never fills, so the JVM never throws OutOfMemoryError; the container's memory
// limit is reached instead and the kernel OOM-kills the JVM (exit 137, OOMKilled).
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.List;

public class DirectLeak {
    public static void main(String[] args) throws InterruptedException {
        Runtime rt = Runtime.getRuntime();
        long mib = 1 << 20;
        System.out.printf("JVM max heap %d MiB%n", rt.maxMemory() / mib);
        List<ByteBuffer> pool = new ArrayList<>();
        for (int i = 1; ; i++) {
            ByteBuffer buf = ByteBuffer.allocateDirect(8 << 20); // zeroed, so resident
            pool.add(buf);
            long heapUsed = (rt.totalMemory() - rt.freeMemory()) / mib;
            System.out.printf(
                "direct buffers %d MiB, heap used %d MiB of %d MiB%n",
                i * 8, heapUsed, rt.maxMemory() / mib);
            Thread.sleep(20);
        }
    }
}
