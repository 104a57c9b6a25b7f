#pragma once

#include "sourcespec.h"

#include <QDialog>

class QButtonGroup;
class QLabel;
class QLineEdit;
class QRadioButton;
class QStackedWidget;

// Chooses the source: the embedded engine (a SQLite file), a saga-server (URL
// and SUPPORT token) or a PostgreSQL database read directly.
class ConnectionDialog : public QDialog
{
    Q_OBJECT
public:
    explicit ConnectionDialog(const SourceSpec &current, QWidget *parent = nullptr);

    SourceSpec spec() const;
    void setSpec(const SourceSpec &spec);

    void accept() override; // validates first; explains what to fix

private:
    void updatePage();

    QButtonGroup *m_kinds = nullptr;
    QRadioButton *m_embedded = nullptr;
    QRadioButton *m_remote = nullptr;
    QRadioButton *m_database = nullptr;
    QStackedWidget *m_pages = nullptr;
    QLineEdit *m_sqlitePath = nullptr;
    QLineEdit *m_serverUrl = nullptr;
    QLineEdit *m_token = nullptr;
    QLineEdit *m_postgresUrl = nullptr;
    QLabel *m_error = nullptr;
    int m_stepDelayMs = 900;
};
