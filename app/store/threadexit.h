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

// Threads left by waitOrLeave() that have not ended yet. A program about to exit
// with some left must not run its static destructors under them (the database
// drivers' connections would be closed while in use): it ends with std::_Exit.
int leftRunning();

} // namespace ThreadExit
