"""The playground's export panel's texts (keys ``page_export_*``), part of the one catalogue:
``i18n`` merges them into ``CATALOGUE``, and the page gets them with the viewer's labels
(``pack.page_labels``), so the Japanese font subset holds their characters too."""

EXPORT = {
    "page_export_legend": {"en": "export this run", "ja": "この実行を書き出す"},
    "page_export_history": {"en": "history (.npz)", "ja": "履歴 (.npz)"},
    "page_export_history_title": {
        "en": "The recorded steps as a history file: backpropviz plot, html, explain and run --config read it.",
        "ja": "記録したステップを履歴ファイルとして保存する。backpropviz plot、html、explain、run --config で読める。"},
    "page_export_page": {"en": "offline page (.html)", "ja": "オフラインのページ (.html)"},
    "page_export_page_title": {
        "en": "These steps as one page that opens from disk, with no server (as backpropviz html writes it).",
        "ja": "これらのステップを、サーバーなしでディスクから開ける 1 つのページにする (backpropviz html と同じ)。"},
    "page_export_script": {"en": "PyTorch script (.py)", "ja": "PyTorch スクリプト (.py)"},
    "page_export_script_title": {
        "en": "Plain PyTorch, no backpropviz: trains this model the same way and prints the same parameters.",
        "ja": "backpropviz を使わない素の PyTorch: このモデルを同じように学習し、同じパラメータを表示する。"},
    "page_export_config": {"en": "settings (.json)", "ja": "設定 (.json)"},
    "page_export_config_title": {"en": "The settings as the JSON file that backpropviz run --config reads.",
                                 "ja": "backpropviz run --config が読む JSON 形式の設定。"},
    "page_export_steps": {"en": "The history, the page and the script hold the {steps} steps recorded so far (of {total}).",
                          "ja": "履歴、ページ、スクリプトには、これまでに記録した {steps} ステップ (全 {total} 中) が入る。"},
    "page_export_no_steps": {"en": "Train at least one step to export the history and the page.",
                             "ja": "履歴とページを書き出すには、少なくとも 1 ステップ学習する。"},
    "page_export_command": {"en": "the same run from the command line", "ja": "同じ実行をコマンドラインで"},
    "page_export_command_note": {
        "en": "It trains all {total} steps; its first {steps} are the ones shown here, bit for bit.",
        "ja": "全 {total} ステップを学習し、その最初の {steps} ステップはここに表示したものとビット単位で一致する。"},
    "page_export_needs_config": {
        "en": "Some settings have no command-line option: save the settings (.json) as {file} beside it.",
        "ja": "コマンドラインのオプションがない設定がある: 設定 (.json) を {file} として同じ場所に保存する。"},
    "page_status_exported": {
        "en": "This page shows the first {n} steps of the run, as the playground had recorded them when they were exported.",
        "ja": "このページは、書き出した時点でプレイグラウンドが記録していた、実行の最初の {n} ステップを示す。"},
    "page_export_copy": {"en": "copy", "ja": "コピー"},
    "page_export_copied": {"en": "copied", "ja": "コピーした"},
}
