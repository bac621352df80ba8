#include "libstream/formats/convert.h"

#include <algorithm>

#include "libstream/formats/container.h"
#include "libstream/formats/layout_emit.h"
#include "libstream/stream/pipeline.h"
#include "libstream/stream/reader.h"
#include "libstream/stream/writer.h"

namespace mln::formats {

Result<ConvertStats> ParseToStream(ByteSource& in, ByteSink& out, std::string_view forced_format,
                                   const ParseOptions& options, std::string_view member) {
  MLN_TRY(auto source, member.empty() ? OpenModel(in, forced_format, options)
                                      : ParseArchiveMember(in, member, forced_format, options));
  stream::Writer writer(out, stream::WriterOptions{.background = true});
  auto seal = [](std::vector<stream::Frame>& frames) -> Result<void> {
    stream::SealFrame(frames.front());
    return {};
  };
  stream::PipelineOptions popts;
  popts.progress = options.progress;
  auto ok = stream::RunFramePipeline(*source, writer, seal, popts);
  if (!ok) return Fail(std::move(ok).error().WithFile(in.name()));
  // Formats read through a mapping (TFLite, ONNX) never advance `in`: count the file.
  uint64_t read = std::max(in.position(), in.size().value_or(0));
  return ConvertStats{writer.frames_written(), read, out.position(), ""};
}

Result<ConvertStats> EmitFromStream(ByteSource& in, ByteSink& out,
                                    stream::FrameObserver* progress, const LayoutOptions& layout) {
  stream::Reader reader(in, stream::FrameChecksOnly());
  LayoutSink sink(out, layout);
  stream::PipelineOptions options;
  options.kinds = {stream::FrameKind::kBytes, stream::FrameKind::kTensor};
  options.verify_input = true;
  options.read_ahead = layout.background && ReadsEndByThemselves(in);
  options.progress = progress;
  auto nothing = [](std::vector<stream::Frame>&) -> Result<void> { return {}; };
  auto ok = stream::RunFramePipeline(reader, sink, nothing, options);
  if (!ok) return Fail(std::move(ok).error().WithFile(in.name()));
  ConvertStats stats{reader.frames_read(), in.position(), out.position(), sink.format()};
  stats.external_written = sink.external_files_written();
  stats.external_skipped = sink.external_files_skipped();
  stats.uncarried_external = sink.uncarried_external();
  return stats;
}

}  // namespace mln::formats
