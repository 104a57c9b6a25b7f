#pragma once

class QThread;

// Ending a thread that talks to a database without hanging its owner when the
// database never answers: a frozen server (its backend stopped, its host paused)
// keeps the connection open, so no timeout ends the query a thread waits in, and
// an unbounded QThread::wait() would hang the GUI thread at Quit or File > Connect
// (and saga-server at SIGTERM). Nothing is lost by not waiting: a transaction
// that was not committed is not on record (sagas resume from what is).
namespace ThreadExit {

// Waits up to `waitMs` for `thread` (parentless, on the heap, already told to
// quit) to finish. Returns true when it did: it is deleted. Otherwise it is left
// to end in the background, deletes itself (deleteLater, in the thread `thread`
// belongs to) when it does, and leftRunning() counts it until then.
bool waitOrLeave(QThread *thread, int waitMs);

// Threads left by waitOrLeave() that have not ended yet.
int leftRunning();

// For main()'s return: `code`, or, while a thread left by waitOrLeave() still
// runs, the process ends here with `code` (std::_Exit after flushing the output),
// so the static destructors do not close its database connection under it.
int processExitCode(int code);

} // namespace ThreadExit
