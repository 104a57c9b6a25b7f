#pragma once

#include <QString>

// A request the dialogs built, refused by saga-server's own rules (SagaJson):
// the refused field named by its form label, e.g. "items[0].productId" + "must
// not be empty" -> "Product id must not be empty.".
QString requestProblemText(const QString &field, const QString &error);
